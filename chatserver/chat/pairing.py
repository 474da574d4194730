"""Who gets the next chat: pure policy over plain data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """An agent as pairing sees one: id, cap and open chats right now."""

    id: str
    max_chats: int
    open_chats: int


def pick(candidates: Iterable[Candidate]) -> Candidate | None:
    """Return the agent with the fewest open chats under their cap, or None if all are full.

    Ties go to the agent with the most room left, then to the lowest id, so every process
    makes the same choice from the same data.
    """
    free = [c for c in candidates if c.open_chats < c.max_chats]
    if not free:
        return None
    return min(free, key=lambda c: (c.open_chats, c.open_chats - c.max_chats, c.id))
