"""What a command asks to be delivered, and to whom: the core's only way to reach people.

A command returns Effects; the transport that called it delivers them with Hub.deliver
(server/hub.py: replies to the acting socket, the rest published on the broker) or answers
with them over HTTP. The core never holds a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Event = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Publication:
    topic: str
    event: Event
    # The acting socket already knows (a sent message has its ack; a typist does not hear
    # their own typing), so it is skipped: one frame fewer per message.
    skip_actor: bool = False


@dataclass(frozen=True, slots=True)
class Fact:
    """Something that happened, for listeners outside the chat (webhooks): a name such as
    "conversation.closed", the site (None: found from data's conversation) and plain data."""

    name: str
    site_id: str | None
    data: Event


@dataclass(slots=True)
class Effects:
    """Events for the one who acted (replies) and events for everyone on a topic."""

    replies: list[Event] = field(default_factory=list)
    publications: list[Publication] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)

    def reply(self, event: Event) -> Effects:
        self.replies.append(event)
        return self

    def publish(self, topic: str, event: Event, skip_actor: bool = False) -> Effects:
        self.publications.append(Publication(topic, event, skip_actor))
        return self

    def happened(self, fact: Fact) -> Effects:
        self.facts.append(fact)
        return self

    def extend(self, other: Effects) -> Effects:
        self.replies += other.replies
        self.publications += other.publications
        self.facts += other.facts
        return self
