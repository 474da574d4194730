"""Blocked visitors and networks: kept in the store, checked at every door from memory.

An agent blocks a visitor (their contact, which every token of theirs names), one address,
or a network (a CIDR such as the /24 around an address). Every process keeps the site's
blocks in memory, read again every REFRESH_SECONDS and at once where one is changed, so a
block holds on every process within seconds without a store read per frame. What a block
refuses is counted in memory and added to the block's row at each refresh: the report of
blocked traffic.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import blocks

log = logging.getLogger("chatserver.limits")

Kind = Literal["contact", "network"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# A block made on one process holds on the others this soon.
REFRESH_SECONDS = 2.0
# Blocking a whole provider by a slip of the finger is worse than the abuse: a network is
# at most this wide.
WIDEST_PREFIX = {4: 16, 6: 32}
# The console's "block network" takes the /24 (IPv4) or /48 (IPv6) around the address.
NETWORK_PREFIX = {4: 24, 6: 48}
MAX_NOTE_CHARS = 200


class BlockError(ValueError):
    """A block that cannot be made; the message says why."""


@dataclass(frozen=True)
class Block:
    id: str
    site_id: str
    kind: Kind
    value: str
    note: str | None
    created_by: str
    created_at: int
    hits: int
    last_hit_at: int | None

    def describe(self) -> dict[str, Any]:
        """Return the block as the API and the console show it."""
        return {"id": self.id, "kind": self.kind, "value": self.value, "note": self.note,
                "created_by": self.created_by, "created_at": self.created_at,
                "hits": self.hits, "last_hit_at": self.last_hit_at}


def address(host: str | None) -> Address | None:
    """Return a client's address, IPv4-mapped IPv6 as IPv4; None when it is not one."""
    try:
        found = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped:
        return found.ipv4_mapped
    return found


def target(kind: str, value: str) -> tuple[Kind, str]:
    """Return what a block of kind ("contact", "ip", "network") on value stores; raise BlockError."""
    value = value.strip()
    if kind == "contact":
        if not value or len(value) > 32:
            raise BlockError("a contact is blocked by its id")
        return "contact", value
    if kind == "ip":
        found = address(value)
        if found is None:
            raise BlockError(f"{value[:64]!r} is not an IP address")
        return "network", str(ipaddress.ip_network(found))
    if kind == "network":
        if "/" not in value:
            found = address(value)
            if found is None:
                raise BlockError(f"{value[:64]!r} is not an IP address or network")
            value = f"{found}/{NETWORK_PREFIX[found.version]}"
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise BlockError(f"{value[:64]!r} is not a network like 203.0.113.0/24") from None
        if network.prefixlen < WIDEST_PREFIX[network.version]:
            raise BlockError(f"a network is at most /{WIDEST_PREFIX[network.version]} wide")
        return "network", str(network)
    raise BlockError("kind must be contact, token, ip or network")


def _block(row: Any) -> Block:
    return Block(row.id, row.site_id, row.kind, row.value, row.note, row.created_by,
                 row.created_at, row.hits, row.last_hit_at)


async def add(
    store: Store, site_id: str, kind: str, value: str, note: str | None, created_by: str
) -> tuple[Block, bool]:
    """Block kind:value on the site; return the block and whether it is new."""
    stored_kind, stored_value = target(kind, value)
    note = (note or "").strip()[:MAX_NOTE_CHARS] or None
    block = Block(new_id(), site_id, stored_kind, stored_value, note, created_by[:200], now_ms(), 0, None)
    try:
        async with store.write() as conn:
            await conn.execute(insert(blocks).values(**vars(block)))
    except IntegrityError:
        # Already blocked (the unique key settles two agents at once): the same block.
        found = [b for b in await listing(store, site_id)
                 if (b.kind, b.value) == (stored_kind, stored_value)]
        if found:
            return found[0], False
        raise
    log.info("event=blocked site=%s kind=%s by=%s", site_id, stored_kind, created_by)
    return block, True


async def remove(store: Store, site_id: str, block_id: str) -> bool:
    """Lift a block of the site; False when there was none."""
    async with store.write() as conn:
        gone = await conn.execute(
            delete(blocks).where(blocks.c.id == block_id, blocks.c.site_id == site_id)
        )
    if gone.rowcount:
        log.info("event=unblocked site=%s block=%s", site_id, block_id)
    return bool(gone.rowcount)


async def listing(store: Store, site_id: str) -> list[Block]:
    """Return the site's blocks, the one that refused most recently first."""
    async with store.read() as conn:
        rows = await conn.execute(
            select(blocks).where(blocks.c.site_id == site_id)
            .order_by(blocks.c.last_hit_at.desc(), blocks.c.created_at.desc())
        )
        return [_block(row) for row in rows]


class _SiteBlocks:
    __slots__ = ("contacts", "networks")

    def __init__(self) -> None:
        self.contacts: dict[str, str] = {}  # contact id -> block id
        self.networks: list[tuple[Network, str]] = []


class BlockList:
    """This process's copy of every site's blocks, and the refusals not yet counted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sites: dict[str, _SiteBlocks] = {}
        self._hits: Counter[str] = Counter()

    def blocked(self, site_id: str, contact_id: str | None = None, host: Address | None = None) -> bool:
        """Tell whether the visitor or the address is blocked on the site (and count it)."""
        site = self._sites.get(site_id)
        if site is None:
            return False
        block_id = site.contacts.get(contact_id) if contact_id else None
        if block_id is None and host is not None:
            block_id = next((b for network, b in site.networks if host in network), None)
        if block_id is None:
            return False
        self._hits[block_id] += 1
        return True

    async def refresh(self) -> None:
        """Add the refusals counted here to the store, then read every block again."""
        hits, self._hits = self._hits, Counter()
        now = now_ms()
        if hits:
            async with self.store.write() as conn:
                for block_id, count in hits.items():
                    await conn.execute(update(blocks).where(blocks.c.id == block_id)
                                       .values(hits=blocks.c.hits + count, last_hit_at=now))
        async with self.store.read() as conn:
            rows = list(await conn.execute(select(blocks.c.id, blocks.c.site_id, blocks.c.kind,
                                                  blocks.c.value)))
        sites: dict[str, _SiteBlocks] = {}
        for row in rows:
            site = sites.setdefault(row.site_id, _SiteBlocks())
            if row.kind == "contact":
                site.contacts[row.value] = row.id
            else:
                site.networks.append((ipaddress.ip_network(row.value), row.id))
        self._sites = sites

    async def keep_fresh(self) -> None:
        """Refresh every REFRESH_SECONDS for as long as the process runs."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event=blocks_refresh_failed")
