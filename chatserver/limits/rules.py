"""Which doors are limited, by how much, per what: pure rules, no I/O.

A door is something a stranger can make the server do (issue a token, open a socket, start a
chat, send a message, search, cause a mail, anything else a visitor's socket sends). Each is
counted per network (one IPv4 address, one IPv6 /64), per visitor (their contact, which every
token of theirs names) and per site, and mails also per recipient. Every count is a token
bucket: `count` at once, refilled evenly over `seconds`. It is kept as GCRA's one number, the
time the bucket is next full, so a shared counter (Redis) holds one key per bucket.

The defaults stop the abuse of issue 15 (thousands of messages, hundreds of chats, tokens or
sockets in seconds, a hundred mails a minute) and leave room for a person typing fast, a
family behind one address, and an office or a mobile network's shared address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Door = Literal["token", "socket", "start", "message", "search", "mail", "frame"]
Scope = Literal["network", "visitor", "site", "recipient"]
DOORS: tuple[Door, ...] = ("token", "socket", "start", "message", "search", "mail", "frame")
SCOPES: tuple[Scope, ...] = ("network", "visitor", "site", "recipient")
# A budget larger than this is a typo; a site that wants no limit sets the largest.
MAX_COUNT = 10_000_000
MAX_SECONDS = 7 * 24 * 3600

# Visitor frames and the door each one counts against; every other frame is a "frame".
FRAME_DOORS: dict[str, Door] = {
    "start": "start",
    "message": "message",
    "search": "search",
    # Each may send a mail; the mail door is charged where the mail is decided (with its
    # recipient), so asking again for a mail already sent costs nothing.
    "transcript": "frame",
    "leave_email": "frame",
    "verify_email": "frame",
}


@dataclass(frozen=True)
class Budget:
    """At most `count` at once, refilled evenly over `seconds`."""

    count: int
    seconds: float
    # Worked out once: every request reads them. The time one use takes to come back, and
    # how far ahead of now the bucket may be spent (GCRA's tolerance).
    interval_ms: float = field(init=False, compare=False, repr=False)
    burst_ms: float = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        interval = self.seconds * 1000 / self.count
        object.__setattr__(self, "interval_ms", interval)
        object.__setattr__(self, "burst_ms", self.seconds * 1000 - interval)


MINUTE, HOUR = 60.0, 3600.0

# Sockets open at once on one process: a visitor has a tab or five; a shared address (an
# office, a school) a few hundred people. Counted per process: the socket budget's rate of
# opens, counted everywhere, bounds what a sender can add across processes.
OPEN_SOCKETS: dict[Scope, int] = {"network": 500, "visitor": 30}

DEFAULTS: dict[Door, dict[Scope, Budget]] = {
    # A page load asks for a token, a renewal now and then; a shared address many.
    "token": {"network": Budget(100, MINUTE), "visitor": Budget(30, MINUTE),
              "site": Budget(6000, MINUTE)},
    # Each tab opens one socket and reopens it after a drop.
    "socket": {"network": Budget(120, MINUTE), "visitor": Budget(30, MINUTE),
               "site": Budget(12000, MINUTE)},
    # A person starts a few chats an hour; ten in ten minutes is already a lot.
    "start": {"network": Budget(60, 10 * MINUTE), "visitor": Budget(10, 10 * MINUTE),
              "site": Budget(3000, MINUTE)},
    # A person types one message every few seconds at most; pasting a few lines in a row
    # is a burst of a handful.
    "message": {"network": Budget(600, MINUTE), "visitor": Budget(60, MINUTE),
                "site": Budget(30000, MINUTE)},
    # Suggest-as-you-type searches while the visitor types.
    "search": {"network": Budget(600, MINUTE), "visitor": Budget(120, MINUTE),
               "site": Budget(30000, MINUTE)},
    # Mails caused by a visitor (transcripts, handed-over chats, address codes): a person
    # needs one or two; a recipient never wants more than a few an hour from one site.
    "mail": {"network": Budget(20, HOUR), "visitor": Budget(5, HOUR),
             "site": Budget(500, HOUR), "recipient": Budget(3, HOUR)},
    # Everything else a visitor's socket sends: typing, receipts, syncs, pings, ratings.
    "frame": {"network": Budget(3000, MINUTE), "visitor": Budget(600, MINUTE),
              "site": Budget(120000, MINUTE)},
}


class RuleError(ValueError):
    """A per-site limit that cannot be used; the message names it."""


def budgets(door: Door, overrides: Any = None) -> dict[Scope, Budget]:
    """Return a door's budgets per scope: the defaults, with a site's overrides on top.

    Overrides are the site's settings["limits"]: {"message": {"visitor": [count, seconds]}}.
    Overrides that cannot be read (an old or hand-edited setting) are ignored here; they
    are refused where they are saved (check).
    """
    chosen = dict(DEFAULTS[door])
    door_overrides = overrides.get(door) if isinstance(overrides, dict) else None
    if isinstance(door_overrides, dict):
        for scope, value in door_overrides.items():
            try:
                chosen[_scope(door, scope)] = _budget(value)
            except RuleError:
                continue
    return chosen


def check(overrides: Any) -> dict[str, dict[str, list[float]]]:
    """Return a site's limits settings in their stored form; raise RuleError on a bad one."""
    if not isinstance(overrides, dict):
        raise RuleError("limits must be an object of doors")
    checked: dict[str, dict[str, list[float]]] = {}
    for door, scopes in overrides.items():
        if door not in DOORS:
            raise RuleError(f"unknown door {door!r}; doors: {', '.join(DOORS)}")
        if not isinstance(scopes, dict):
            raise RuleError(f"limits.{door} must be an object of scopes")
        for scope, value in scopes.items():
            budget = _budget(value, f"{door}.{_scope(door, scope)}")
            checked.setdefault(door, {})[scope] = [budget.count, budget.seconds]
    return checked


def parse(text: str) -> tuple[Door, Scope, Budget]:
    """Read one override as typed on the command line: "message.visitor=60/60"."""
    name, _, value = text.partition("=")
    door, _, scope = name.strip().partition(".")
    count, _, seconds = value.partition("/")
    if door not in DOORS:
        raise RuleError(f"unknown door {door!r}; doors: {', '.join(DOORS)}")
    try:
        budget = _budget([int(count), float(seconds)], name)
    except ValueError:
        raise RuleError(f"{text!r}: expected DOOR.SCOPE=COUNT/SECONDS, like message.visitor=60/60") from None
    return door, _scope(door, scope), budget


def _scope(door: str, scope: Any) -> Scope:
    if scope not in SCOPES or (scope == "recipient" and door != "mail"):
        allowed = SCOPES if door == "mail" else SCOPES[:3]
        raise RuleError(f"unknown scope {scope!r} for {door}; scopes: {', '.join(allowed)}")
    return scope  # type: ignore[no-any-return]


def _budget(value: Any, name: str = "limit") -> Budget:
    if (
        not isinstance(value, list | tuple) or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
    ):
        raise RuleError(f"{name} must be [count, seconds]")
    count, seconds = value
    if count != int(count) or not 1 <= count <= MAX_COUNT or not 1 <= seconds <= MAX_SECONDS:
        raise RuleError(f"{name}: count 1-{MAX_COUNT}, seconds 1-{MAX_SECONDS}")
    return Budget(int(count), float(seconds))


def take(full_at_ms: float | None, now_ms: float, budget: Budget) -> tuple[float | None, float]:
    """Spend one use of a bucket (GCRA); return (when it is next full, 0) or (None, wait ms).

    full_at_ms is None for a bucket never used (or forgotten): full.
    """
    full_at = max(full_at_ms or now_ms, now_ms)
    wait = full_at - now_ms - budget.burst_ms
    if wait > 0:
        return None, wait
    return full_at + budget.interval_ms, 0.0
