"""The one check every door makes: is this sender blocked, and is there budget left?

Transports call `Gate.check` (or `Gate.blocked`) with what they know of the sender: the
site, the network the request came from, the visitor's contact, a mail's recipient. A refusal
is a `Limited` (or `Blocked`) ProtocolError, which the socket answers with an error frame and
the HTTP API with 429 and Retry-After, before anything is stored.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter as CounterOf
from typing import Any

from chatserver import metrics
from chatserver.limits import rules
from chatserver.limits.blocks import Address, BlockList
from chatserver.limits.counter import Counter
from chatserver.limits.rules import Door
from chatserver.protocol import ProtocolError
from chatserver.sites import Site

log = logging.getLogger("chatserver.limits")

# What each door counts, in the words of the refusal.
WHAT: dict[Door, str] = {
    "token": "new visitor tokens", "socket": "connections", "start": "new chats",
    "message": "messages", "search": "searches", "mail": "mails", "frame": "requests",
}


class Limited(ProtocolError):
    """Over a door's budget: refused with `rate_limited` and when to try again."""

    def __init__(self, door: Door, wait_ms: float, ref: str | None = None) -> None:
        # Tenths of a second: exact enough for a client's timer, and never 0.
        self.retry_after = max(0.1, math.ceil(wait_ms / 100) / 10)
        super().__init__(
            "rate_limited",
            f"too many {WHAT[door]}; try again in {math.ceil(self.retry_after)} seconds", ref,
        )
        self.door = door

    @property
    def retry_after_header(self) -> str:
        return str(math.ceil(self.retry_after))


class Blocked(ProtocolError):
    """The visitor or their network is blocked on this site."""

    def __init__(self, ref: str | None = None) -> None:
        super().__init__("blocked", "this site does not accept your messages", ref)


class Gate:
    """Budgets (rules.py) counted by a Counter, blocks by a BlockList; off when not enabled."""

    def __init__(
        self, counter: Counter, blocks: BlockList, enabled: bool = True,
        sockets_per_network: int = rules.OPEN_SOCKETS["network"],
    ) -> None:
        self.counter = counter
        self.blocks = blocks
        self.enabled = enabled
        self.sockets_per_network = sockets_per_network
        # Sockets open on this process per site and network, and per visitor.
        self._open: CounterOf[str] = CounterOf()
        # A site's overrides as budgets, kept beside the settings object they were read from.
        self._read: dict[tuple[str, Door], tuple[Any, dict[rules.Scope, rules.Budget]]] = {}

    def blocked(
        self, site: Site, contact_id: str | None = None, host: Address | None = None,
        ref: str | None = None,
    ) -> None:
        """Raise Blocked when the visitor or their address is blocked on the site."""
        if self.blocks.blocked(site.id, contact_id, host):
            metrics.RATE_LIMITED.labels("blocked").inc()
            raise Blocked(ref)

    async def check(
        self, site: Site, door: Door, *, network: str | None = None, visitor: str | None = None,
        recipient: str | None = None, ref: str | None = None, whole_site: bool = True,
    ) -> None:
        """Spend one use of the door for each sender named (and the site's unless whole_site
        is False: a second check of one request); raise Limited when one is spent."""
        if not self.enabled:
            return
        overrides = site.settings.get("limits")
        budgets = self._budgets(site.id, door, overrides) if overrides else rules.DEFAULTS[door]
        buckets = [(f"{door}:{site.id}:site", budgets["site"])] if whole_site else []
        for scope, who in (("network", network), ("visitor", visitor), ("recipient", recipient)):
            if who is not None and scope in budgets:
                buckets.append((f"{door}:{site.id}:{scope}:{who}", budgets[scope]))
        wait = await self.counter.take(buckets, time.time() * 1000)
        if wait > 0:
            metrics.RATE_LIMITED.labels(door).inc()
            log.debug("event=rate_limited door=%s site=%s wait_ms=%d", door, site.id, wait)
            raise Limited(door, wait, ref)

    def _budgets(self, site_id: str, door: Door, overrides: Any) -> dict[rules.Scope, rules.Budget]:
        """Return a site's budgets for a door, read again only when its overrides change."""
        known = self._read.get((site_id, door))
        # Each socket holds its own copy of the settings: equal is as good as the same.
        if known is None or (known[0] is not overrides and known[0] != overrides):
            known = self._read[(site_id, door)] = (overrides, rules.budgets(door, overrides))
        return known[1]

    def opened(self, site: Site, network: str, contact_id: str) -> bool:
        """Count a socket open on this process; False (and not counted) past the caps."""
        keys = (f"{site.id}:{network}", f"{site.id}:{contact_id}")
        if self.enabled and (self._open[keys[0]] >= self.sockets_per_network
                             or self._open[keys[1]] >= rules.OPEN_SOCKETS["visitor"]):
            metrics.RATE_LIMITED.labels("socket").inc()
            return False
        for key in keys:
            self._open[key] += 1
        return True

    def closed(self, site: Site, network: str, contact_id: str) -> None:
        for key in (f"{site.id}:{network}", f"{site.id}:{contact_id}"):
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    async def close(self) -> None:
        await self.counter.close()
