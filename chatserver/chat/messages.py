"""Chat messages: the one way a message is stored (a group commit), and reading them back.

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
import contextlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, case, insert, select, tuple_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.expression import Executable

from chatserver import metrics
from chatserver.chat.model import AuthorKind, ChatMessage, ConversationClosed, NotHolder, Status
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import agents, api_tokens, contacts, conversations, messages

log = logging.getLogger("chatserver.chat.messages")

# Messages in one transaction at most. 256 keeps one commit within a few milliseconds
# (the p99 budget is 5 ms) while amortising its fixed cost; more would only lengthen the
# wait of the first caller in a batch.
MAX_BATCH = 256
# Messages waiting for their commit at most: four full batches, tens of milliseconds of work.
# Past this the server is saturated, and a message more would only wait longer while its
# sender's socket and every other one wait too: it is refused at once (Overloaded) and sent
# again shortly by its client, so throughput holds and latency stays bounded.
MAX_PENDING = 4 * MAX_BATCH
# The fast path's log is copied into the database at most this often (when it grew): at
# 10,000 messages a second that is a few megabytes of log, about SQLite's own default.
CHECKPOINT_SECONDS = 1.0

# A reconnecting client gets at most this many missed messages per sync frame; it asks
# again from the last one to page through a long history without one huge burst.
SYNC_PAGE = 200

Key = tuple[str, str, str, str]  # conversation, author kind, author, client id


class Overloaded(Exception):
    """Too many messages wait for their commit already: nothing was stored, send it again."""


class Appended(NamedTuple):
    """A stored message, whether this call stored it, and its conversation's status then."""

    message: ChatMessage
    created: bool
    status: str


@dataclass
class _Pending:
    conversation_id: str
    author_kind: AuthorKind
    author_id: str
    client_id: str
    text: str
    holder: str | None  # when set, the conversation must be assigned to this agent
    files: tuple[dict[str, Any], ...] = ()
    result: asyncio.Future[Appended] = field(
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
        files: tuple[dict[str, Any], ...] = (),
    ) -> Appended:
        """Store a message; answer once it is committed, with the conversation's status then.

        Raise ConversationClosed if the conversation is closed or gone, NotHolder if holder
        is given and does not hold it. A resend (same conversation, author and client id) is
        never stored twice, whether the first copy committed long ago or sits in this batch:
        it answers with the earlier copy and created False.
        """
        if len(self._pending) >= MAX_PENDING:
            raise Overloaded(len(self._pending))
        item = _Pending(conversation_id, author_kind, author_id, client_id, text, holder, files)
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
        started = time.perf_counter()
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
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.MESSAGES.inc(sum(isinstance(o, Appended) and o.created for o in outcomes))
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.result.done():
                continue  # the caller went away (its socket closed); the message is stored
            if isinstance(outcome, BaseException):
                item.result.set_exception(outcome)
            else:
                item.result.set_result(outcome)

    async def _write(
        self, batch: list[_Pending]
    ) -> list[Outcome]:
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
                await conn.execute(_BUMP, [{"cid": cid, "seq": seq, "now": now}
                                           for cid, seq in seqs.items()])
                await conn.execute(_INSERT, [_row(m) for m in made])
        return outcomes

    async def _earlier(self, item: _Pending) -> Outcome:
        async with self.store.read() as conn:
            found = (await _stored(conn, [item])).get(item.key)
        if found is None:
            return LookupError(item.client_id)
        async with self.store.read() as conn:
            status = (await conn.execute(_HEAD, {"cid": item.conversation_id})).one().status
        return Appended(found, False, status)


# The statements of an append, written once against the schema; the store runs them through
# SQLAlchemy and the SQLite fast path runs the same ones compiled for plain sqlite3.
_STORED_COLUMNS = (
    messages.c.id, messages.c.conversation_id, messages.c.seq, messages.c.author_kind,
    messages.c.author_id, messages.c.client_id, messages.c.body, messages.c.created_at,
    messages.c.files,
)
_EARLIER = select(*_STORED_COLUMNS).where(
    messages.c.conversation_id == bindparam("cid"), messages.c.author_kind == bindparam("kind"),
    messages.c.author_id == bindparam("author"), messages.c.client_id == bindparam("client"),
)
_HEAD = select(conversations.c.id, conversations.c.status, conversations.c.agent_id,
               conversations.c.last_seq).where(conversations.c.id == bindparam("cid"))
_BUMP = (update(conversations).where(conversations.c.id == bindparam("cid"))
         .values(last_seq=bindparam("seq"), updated_at=bindparam("now")))
_INSERT = insert(messages)


def _message(row: Any) -> ChatMessage:
    return ChatMessage(row[0], row[1], row[2], row[3], row[4], None, row[5], row[6], row[7],
                       _files(row[8]))


def _files(stored: str | None) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(stored)) if stored else ()


async def _stored(conn: AsyncConnection, batch: list[_Pending]) -> dict[Key, ChatMessage]:
    """Return the messages already stored under the batch's keys (resends): exact lookups."""
    keys = list({item.key for item in batch})
    query = select(*_STORED_COLUMNS).where(
        tuple_(messages.c.conversation_id, messages.c.author_kind, messages.c.author_id,
               messages.c.client_id).in_(keys)
    )
    found: dict[Key, ChatMessage] = {}
    for row in await conn.execute(query):
        message = _message(row)
        found[(message.conversation_id, message.author_kind, message.author_id,
               message.client_id)] = message
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
Outcome = Appended | BaseException


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
        head = heads.get(item.conversation_id)
        earlier = stored.get(item.key) or made.get(item.key)
        if earlier is not None:
            outcomes.append(Appended(earlier, False, head[0] if head else Status.CLOSED.value))
            continue
        if head is None or head[0] == Status.CLOSED.value:
            outcomes.append(ConversationClosed(item.conversation_id))
            continue
        if item.holder is not None and head[1] != item.holder:
            outcomes.append(NotHolder(item.conversation_id))
            continue
        seq = seqs[item.conversation_id] = seqs.get(item.conversation_id, head[2]) + 1
        message = ChatMessage(
            new_id(), item.conversation_id, seq, item.author_kind, item.author_id, None,
            item.client_id, item.text, now, item.files,
        )
        made[item.key] = message
        outcomes.append(Appended(message, True, head[0]))
    return outcomes, list(made.values()), seqs


def _row(m: ChatMessage) -> dict[str, object]:
    return {"id": m.id, "conversation_id": m.conversation_id, "seq": m.seq,
            "author_kind": m.author_kind, "author_id": m.author_id, "client_id": m.client_id,
            "body": m.body, "created_at": m.created_at,
            "files": json.dumps(list(m.files)) if m.files else None}


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
            # One exact lookup in an index per message and per conversation: a long
            # conversation costs no more than a short one.
            stored: dict[Key, ChatMessage] = {}
            for key in {item.key for item in batch}:
                row = db.execute(_EARLIER_SQL.sql, _EARLIER_SQL.args(
                    cid=key[0], kind=key[1], author=key[2], client=key[3])).fetchone()
                if row is not None:
                    stored[key] = _message(row)
            heads: Heads = {}
            for cid in {item.conversation_id for item in batch}:
                row = db.execute(_HEAD_SQL.sql, _HEAD_SQL.args(cid=cid)).fetchone()
                if row is not None:
                    heads[cid] = (row[1], row[2], row[3])
            now = now_ms()
            outcomes, made, seqs = _plan(batch, stored, heads, now)
            if made:
                db.executemany(_BUMP_SQL.sql, [_BUMP_SQL.args(cid=cid, seq=seq, now=now)
                                               for cid, seq in seqs.items()])
                db.executemany(_INSERT_SQL.sql, [_INSERT_SQL.args(**_row(m)) for m in made])
            db.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full) may have rolled back already: nothing left to undo.
            with contextlib.suppress(sqlite3.Error):
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


class _Compiled:
    """A statement compiled for plain sqlite3: its SQL and the order of its parameters."""

    def __init__(self, statement: Executable) -> None:
        assert isinstance(statement, ClauseElement)
        compiled = statement.compile(dialect=sqlite.dialect(paramstyle="qmark"))
        self.sql = str(compiled)
        self.names = tuple(getattr(compiled, "positiontup", None) or ())

    def args(self, **values: object) -> list[object]:
        return [values[name] for name in self.names]


_EARLIER_SQL, _HEAD_SQL, _BUMP_SQL, _INSERT_SQL = (
    _Compiled(s) for s in (_EARLIER, _HEAD, _BUMP, _INSERT)
)


_MESSAGE_COLUMNS = (
    messages.c.id, messages.c.conversation_id, messages.c.seq, messages.c.author_kind,
    messages.c.author_id,
    case(
        (messages.c.author_kind == "agent", agents.c.name),
        (messages.c.author_kind == "visitor", contacts.c.name),
        (messages.c.author_kind == "integration", api_tokens.c.name),
        else_=None,
    ).label("author_name"),
    messages.c.client_id, messages.c.body, messages.c.created_at, messages.c.files,
)
_MESSAGE_FROM = messages.outerjoin(
    agents, and_(messages.c.author_kind == "agent", agents.c.id == messages.c.author_id)
).outerjoin(
    contacts, and_(messages.c.author_kind == "visitor", contacts.c.id == messages.c.author_id)
).outerjoin(
    # A message an integration sent through the public API goes by its token's name.
    api_tokens, and_(messages.c.author_kind == "integration", api_tokens.c.id == messages.c.author_id)
)


async def after(
    store: Store, conversation_id: str, seq: int, limit: int = SYNC_PAGE
) -> list[ChatMessage]:
    """Return the messages with a sequence number above seq, in order, with author names."""
    query = (
        select(*_MESSAGE_COLUMNS)
        .select_from(_MESSAGE_FROM)
        .where(messages.c.conversation_id == conversation_id, messages.c.seq > seq)
        .order_by(messages.c.seq)
        .limit(limit)
    )
    async with store.read() as conn:
        return [ChatMessage(**{**row._mapping, "files": _files(row.files)})
                for row in await conn.execute(query)]
