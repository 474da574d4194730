"""Group commit: chat messages from many sockets share one write transaction.

One committed SQLite transaction costs about a millisecond and writers take turns, so a
transaction per message caps the whole server near a thousand messages a second. Here
each caller queues its message and awaits its own result; one task commits everything
queued so far in one transaction, then resolves every caller. A result is set only after
the commit, so an ack still means "stored" and durability is exactly what it was. Under
light load a batch holds one message and costs what it did before; under heavy load the
batch grows while the previous commit runs, and the cost per message falls.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver.chat.conversations import AuthorKind, ChatMessage, ConversationClosed, Status
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import conversations, messages

log = logging.getLogger("chatserver.chat.messages")

# Messages in one transaction at most. 256 keeps one commit within a few milliseconds
# (the p99 budget is 5 ms) while amortising its fixed cost; more would only lengthen the
# wait of the first caller in a batch.
MAX_BATCH = 256
# The fast path's log is copied into the database at most this often (when it grew): at
# 10,000 messages a second that is a few megabytes of log, about SQLite's own default.
CHECKPOINT_SECONDS = 1.0

Key = tuple[str, str, str, str]  # conversation, author kind, author, client id


class NotHolder(Exception):
    """An agent wrote in a conversation that another agent holds (or nobody holds)."""


@dataclass
class _Pending:
    conversation_id: str
    author_kind: AuthorKind
    author_id: str
    client_id: str
    text: str
    holder: str | None  # when set, the conversation must be assigned to this agent
    result: asyncio.Future[tuple[ChatMessage, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> Key:
        return (self.conversation_id, self.author_kind, self.author_id, self.client_id)


class MessageWriter:
    """Stores chat messages, many per transaction; max_batch=1 is one transaction each."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._sqlite = (
            _SqliteWriter(store.url.split(":///", 1)[1]) if store.url.startswith("sqlite") else None
        )

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()

    async def append(
        self,
        conversation_id: str,
        author_kind: AuthorKind,
        author_id: str,
        client_id: str,
        text: str,
        holder: str | None = None,
    ) -> tuple[ChatMessage, bool]:
        """Store a message once it is committed: (it, True), or (the earlier copy, False).

        Raise ConversationClosed if the conversation is closed or gone, NotHolder if holder
        is given and does not hold it. A resend (same conversation, author and client id) is
        never stored twice, whether the first copy committed long ago or sits in this batch.
        """
        item = _Pending(conversation_id, author_kind, author_id, client_id, text, holder)
        self._pending.append(item)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await item.result

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._commit(batch)
        finally:
            self._flusher = None
            # Cancelled at shutdown: nothing queued was committed; tell its callers so.
            for item in self._pending:
                if not item.result.done():
                    item.result.set_exception(ConnectionError("the server is shutting down"))
            self._pending.clear()

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._write(batch)
        except (IntegrityError, DBAPIError, sqlite3.DatabaseError) as error:
            # Another process stored one of these client ids first (PostgreSQL), or the
            # transaction hit a deadlock: nothing of the batch committed. Store each message
            # in its own transaction, where the unique key settles what a resend is.
            log.info("event=batch_retried size=%d error=%s", len(batch), type(error).__name__)
            outcomes = []
            for item in batch:
                try:
                    outcomes.extend(await self._write([item]))
                except (IntegrityError, sqlite3.IntegrityError):
                    outcomes.append(await self._earlier(item))
                except Exception as failed:  # reported to that caller alone
                    outcomes.append(failed)
        except Exception as failed:
            outcomes = [failed] * len(batch)
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.result.done():
                continue  # the caller went away (its socket closed); the message is stored
            if isinstance(outcome, BaseException):
                item.result.set_exception(outcome)
            else:
                item.result.set_result(outcome)

    async def _write(
        self, batch: list[_Pending]
    ) -> list[tuple[ChatMessage, bool] | BaseException]:
        """Store the batch in one transaction; return each caller's outcome after the commit."""
        if self._sqlite is not None:
            done = self._sqlite.write(batch)
            if done is not None:
                return done
        now = now_ms()
        async with self.store.write() as conn:
            stored = await _stored(conn, batch)
            heads = await _conversations(conn, {item.conversation_id for item in batch})
            outcomes, made, seqs = _plan(batch, stored, heads, now)
            if made:
                await conn.execute(
                    update(conversations)
                    .where(conversations.c.id == bindparam("cid"))
                    .values(last_seq=bindparam("seq"), updated_at=now),
                    [{"cid": cid, "seq": seq} for cid, seq in seqs.items()],
                )
                await conn.execute(insert(messages), [_row(m) for m in made])
        return outcomes

    async def _earlier(self, item: _Pending) -> tuple[ChatMessage, bool] | BaseException:
        async with self.store.read() as conn:
            found = (await _stored(conn, [item])).get(item.key)
        return (found, False) if found else LookupError(item.client_id)


async def _stored(conn: AsyncConnection, batch: list[_Pending]) -> dict[Key, ChatMessage]:
    """Return the messages already stored under the batch's client ids (resends)."""
    query = select(messages).where(
        messages.c.conversation_id.in_({item.conversation_id for item in batch}),
        messages.c.client_id.in_({item.client_id for item in batch}),
    )
    wanted = {item.key for item in batch}
    found: dict[Key, ChatMessage] = {}
    for row in await conn.execute(query):
        key = (row.conversation_id, row.author_kind, row.author_id, row.client_id)
        if key in wanted:
            found[key] = ChatMessage(
                row.id, row.conversation_id, row.seq, row.author_kind, row.author_id, None,
                row.client_id, row.body, row.created_at,
            )
    return found


async def _conversations(conn: AsyncConnection, ids: set[str]) -> Heads:
    """Return status, holder and last sequence number of each conversation, locked for update.

    The lock (PostgreSQL; SQLite's write transaction already excludes other writers) keeps
    sequence numbers and the holder check exact until the commit; rows are locked in id
    order so two processes' batches cannot deadlock on each other.
    """
    query = (
        select(conversations.c.id, conversations.c.status, conversations.c.agent_id,
               conversations.c.last_seq)
        .where(conversations.c.id.in_(ids))
        .order_by(conversations.c.id)
        .with_for_update()
    )
    return {row.id: (row.status, row.agent_id, row.last_seq) for row in await conn.execute(query)}


Heads = dict[str, tuple[str, str | None, int]]
Outcome = tuple[ChatMessage, bool] | BaseException


def _plan(
    batch: list[_Pending], stored: dict[Key, ChatMessage], heads: Heads, now: int
) -> tuple[list[Outcome], list[ChatMessage], dict[str, int]]:
    """Decide each item: a resend, refused, or a new message with the next sequence number.

    Return the outcomes, the messages to insert and each touched conversation's new last_seq.
    """
    outcomes: list[Outcome] = []
    made: dict[Key, ChatMessage] = {}
    seqs: dict[str, int] = {}
    for item in batch:
        earlier = stored.get(item.key) or made.get(item.key)
        if earlier is not None:
            outcomes.append((earlier, False))
            continue
        head = heads.get(item.conversation_id)
        if head is None or head[0] == Status.CLOSED.value:
            outcomes.append(ConversationClosed(item.conversation_id))
            continue
        if item.holder is not None and head[1] != item.holder:
            outcomes.append(NotHolder(item.conversation_id))
            continue
        seq = seqs[item.conversation_id] = seqs.get(item.conversation_id, head[2]) + 1
        message = ChatMessage(
            new_id(), item.conversation_id, seq, item.author_kind, item.author_id, None,
            item.client_id, item.text, now,
        )
        made[item.key] = message
        outcomes.append((message, True))
    return outcomes, list(made.values()), seqs


def _row(m: ChatMessage) -> dict[str, object]:
    return {"id": m.id, "conversation_id": m.conversation_id, "seq": m.seq,
            "author_kind": m.author_kind, "author_id": m.author_id, "client_id": m.client_id,
            "body": m.body, "created_at": m.created_at}


class _SqliteWriter:
    """The embedded store's fast path: the batch's few statements on a plain sqlite3 connection.

    Through SQLAlchemy and aiosqlite, each statement is a hop to a worker thread and back
    (about 100 µs of CPU each, six per batch); here the batch runs on the event loop in
    well under a millisecond. It never waits: the write lock is tried without a busy
    timeout, and when another connection holds it (a write through the store, a CLI command),
    write() returns None and the batch goes through the store, which waits in a thread.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
        # The same settings as the store's connections (store/__init__.py): WAL, and NORMAL,
        # which survives a killed process; only a power cut can lose the last commits.
        # A checkpoint copies the log into the database and syncs it to disk (milliseconds);
        # run by the commit that fills the log, it would stall every socket, so it runs in a
        # thread instead (checkpoint_soon).
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=0",
                       "foreign_keys=ON", "wal_autocheckpoint=0"):
            self.db.execute(f"PRAGMA {pragma}")
        self._checkpointed_at = time.monotonic()
        self._checkpoint: asyncio.Future[None] | None = None

    def write(self, batch: list[_Pending]) -> list[Outcome] | None:
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return None  # another writer has the lock: let the store wait for it
        try:
            ids = list({item.conversation_id for item in batch})
            keys = list({item.key for item in batch})
            # One exact lookup in the client-id index per message: a long conversation costs
            # no more than a short one.
            stored: dict[Key, ChatMessage] = {
                (row[1], row[3], row[4], row[5]): ChatMessage(
                    row[0], row[1], row[2], row[3], row[4], None, row[5], row[6], row[7]
                )
                for row in db.execute(
                    "SELECT m.id, m.conversation_id, m.seq, m.author_kind, m.author_id,"
                    " m.client_id, m.body, m.created_at"
                    f" FROM (VALUES {', '.join(['(?, ?, ?, ?)'] * len(keys))}) AS k"
                    " JOIN messages AS m ON m.conversation_id = k.column1"
                    " AND m.author_kind = k.column2 AND m.author_id = k.column3"
                    " AND m.client_id = k.column4",
                    [part for key in keys for part in key],
                )
            }
            heads: Heads = {
                row[0]: (row[1], row[2], row[3]) for row in db.execute(
                    "SELECT id, status, agent_id, last_seq FROM conversations"
                    f" WHERE id IN ({_marks(ids)})", ids,
                )
            }
            now = now_ms()
            outcomes, made, seqs = _plan(batch, stored, heads, now)
            if made:
                db.executemany("UPDATE conversations SET last_seq = ?, updated_at = ? WHERE id = ?",
                               [(seq, now, cid) for cid, seq in seqs.items()])
                db.executemany(
                    "INSERT INTO messages (id, conversation_id, seq, author_kind, author_id,"
                    " client_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(m.id, m.conversation_id, m.seq, m.author_kind, m.author_id, m.client_id,
                      m.body, m.created_at) for m in made],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._checkpoint_soon()
        return outcomes

    def _checkpoint_soon(self) -> None:
        now = time.monotonic()
        if now - self._checkpointed_at < CHECKPOINT_SECONDS:
            return
        if self._checkpoint is None or self._checkpoint.done():
            self._checkpointed_at = now
            self._checkpoint = asyncio.ensure_future(asyncio.to_thread(_checkpoint, self.path))

    def close(self) -> None:
        self.db.close()


def _checkpoint(path: str) -> None:
    """Copy the log into the database without waiting for, or holding up, anyone."""
    db = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        db.close()


def _marks(values: list[str]) -> str:
    return ", ".join("?" * len(values))
