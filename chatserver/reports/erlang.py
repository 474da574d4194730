"""Erlang C: how many agents a queue of chats needs to meet a first-response target. Pure.

Chats arrive at random (Poisson) and wait in one queue for the next free slot; A = arrivals
per second x mean handling time is the offered load in erlangs. Chat differs from phone in
one way: an agent holds several chats at once. We model an agent with concurrency k as k
servers, and take the handling time as measured (assigned to closed), which already includes
the slower pace of an agent juggling chats; docs/metrics.md states this assumption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The usual goal: this share of chats answered within the first-response target ("80/20").
DEFAULT_GOAL = 0.8
# A queue cannot need more servers than this; past it the inputs are a mistake.
MAX_SERVERS = 10_000


def erlang_b(servers: int, load: float) -> float:
    """Return the Erlang B blocking probability (the stable recurrence, no factorials)."""
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(servers: int, load: float) -> float:
    """Return the probability that an arrival waits, with servers handling load erlangs."""
    if load <= 0:
        return 0.0
    if servers <= load:
        return 1.0  # the queue grows without end: everyone waits
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1 - b))


def service_level(servers: int, load: float, handling_s: float, target_s: float) -> float:
    """Return the share of arrivals answered within target_s seconds."""
    if load <= 0:
        return 1.0
    if servers <= load:
        return 0.0
    waits = erlang_c(servers, load)
    return 1 - waits * math.exp(-(servers - load) * target_s / handling_s)


def mean_wait(servers: int, load: float, handling_s: float) -> float:
    """Return the average speed of answer in seconds (infinite when overloaded)."""
    if load <= 0:
        return 0.0
    if servers <= load:
        return math.inf
    return erlang_c(servers, load) * handling_s / (servers - load)


def servers_needed(load: float, handling_s: float, target_s: float, goal: float = DEFAULT_GOAL) -> int:
    """Return the fewest servers that answer the goal share within target_s."""
    if load <= 0:
        return 0
    servers = max(1, math.floor(load) + 1)
    while service_level(servers, load, handling_s, target_s) < goal:
        servers += 1
        if servers > MAX_SERVERS:
            raise ValueError(f"more than {MAX_SERVERS} servers needed: check the volume")
    return servers


@dataclass(frozen=True)
class Staffing:
    """Agents needed for one hour's chats, and what they would achieve."""

    arrivals_per_hour: float
    load: float
    agents: int
    service_level: float
    mean_wait_s: float


def agents_needed(
    arrivals_per_hour: float, handling_s: float, target_s: float, concurrency: int,
    goal: float = DEFAULT_GOAL,
) -> Staffing:
    """Return the agents (each holding up to `concurrency` chats) to meet the goal."""
    if concurrency < 1:
        raise ValueError("chat concurrency must be at least 1")
    if handling_s <= 0:
        raise ValueError("handling time must be positive")
    load = arrivals_per_hour * handling_s / 3600
    servers = servers_needed(load, handling_s, target_s, goal)
    agents = math.ceil(servers / concurrency)
    slots = agents * concurrency
    return Staffing(arrivals_per_hour, load, agents,
                    service_level(slots, load, handling_s, target_s),
                    mean_wait(slots, load, handling_s))
