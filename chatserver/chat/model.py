"""A conversation and its moves: statuses, the one table of transitions, the records. Pure.

Every move names the statuses it starts from and the one it ends in; `conversations.py` turns
a move into one conditional write, so two agents (or processes) making moves at once on the
same conversation cannot both succeed. docs/protocol.md shows the same table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

AuthorKind = Literal["visitor", "agent", "system", "integration"]


class Status(enum.StrEnum):
    NEW = "new"  # started, self-service suggestions shown, nobody asked for yet
    QUEUED = "queued"  # waiting for an agent
    ASSIGNED = "assigned"  # an agent has it
    CLOSED = "closed"  # final; a visitor who writes again starts a new conversation


@dataclass(frozen=True)
class Move:
    name: str
    sources: frozenset[Status]
    target: Status
    why: str  # what a refused client is told


def _move(name: str, sources: set[Status], target: Status, why: str) -> Move:
    return Move(name, frozenset(sources), target, why)


NEW, QUEUED, ASSIGNED, CLOSED = Status.NEW, Status.QUEUED, Status.ASSIGNED, Status.CLOSED

# Every status change there is. A new conversation always has a way on: the visitor asks for a
# person (or simply writes again), resolves it, or an agent takes it from any list showing it.
QUEUE = _move("queue", {NEW}, QUEUED, "the conversation is already with the team")
RESOLVE = _move("resolve", {NEW, QUEUED}, CLOSED,
                "only a conversation no agent has taken yet can be closed as answered by an article")
ACCEPT = _move("accept", {NEW, QUEUED}, ASSIGNED,
               "the conversation is no longer waiting (someone may have taken it)")
ASSIGN = _move("assign", {QUEUED}, ASSIGNED, "the conversation is no longer queued")
TRANSFER = _move("transfer", {ASSIGNED}, ASSIGNED,
                 "only the agent holding an assigned conversation can transfer it")
REQUEUE = _move("requeue", {ASSIGNED}, QUEUED, "the agent no longer holds the conversation")
CLOSE = _move("close", {NEW, QUEUED, ASSIGNED}, CLOSED, "the conversation is already closed")

MOVES: tuple[Move, ...] = (QUEUE, RESOLVE, ACCEPT, ASSIGN, TRANSFER, REQUEUE, CLOSE)

TRANSITIONS: dict[Status, frozenset[Status]] = {
    status: frozenset(m.target for m in MOVES if status in m.sources) for status in Status
}


class IllegalTransition(Exception):
    """A move the conversation's current status does not allow (or a race lost)."""

    def __init__(self, current: Status, move: Move) -> None:
        super().__init__(move.why)
        self.current = current
        self.move = move


class ConversationClosed(Exception):
    """A message for a conversation that is closed (or gone)."""


class NotHolder(Exception):
    """An agent wrote in a conversation that another agent holds (or nobody holds)."""


@dataclass(frozen=True)
class Conversation:
    id: str
    site_id: str
    contact_id: str
    status: Status
    agent_id: str | None
    agent_name: str | None
    contact_name: str | None
    last_seq: int
    visitor_read_seq: int
    agent_read_seq: int
    created_at: int
    queued_at: int | None
    resolution: str | None
    rating: str | None
    channel: str  # where it came from: chatserver/channels.py


@dataclass(frozen=True)
class ChatMessage:
    id: str
    conversation_id: str
    seq: int
    author_kind: AuthorKind
    author_id: str
    author_name: str | None
    client_id: str
    body: str
    created_at: int
    # Files sent with it (chatserver/files): {id, name, type, size, inline} each.
    files: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class LastLine:
    """The last message of a conversation, as a list of conversations shows it."""

    text: str
    author_kind: AuthorKind
    at: int


@dataclass(frozen=True)
class ChatNote:
    """An agent's private note in a chat: no sequence number, never sent to the visitor."""

    id: str
    conversation_id: str
    agent_id: str
    agent_name: str | None
    client_id: str
    body: str
    created_at: int
