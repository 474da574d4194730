"""`chatserver block` and `chatserver limits`: blocks and a site's own budgets from the shell."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import update

from chatserver import sites
from chatserver.limits import blocks, rules
from chatserver.store import Store
from chatserver.store.schema import sites as sites_table


def add_commands(commands: Any, data_dir: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the block and limits commands to the `chatserver` parser."""
    block = commands.add_parser("block", help="block visitors, addresses and networks of a site")
    actions = block.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="block a visitor (--contact), an address or a network")
    add.add_argument("--site", required=True, metavar="KEY")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--contact", metavar="ID", help="a visitor's contact id (all their tokens)")
    what.add_argument("--ip", metavar="ADDRESS")
    what.add_argument("--network", metavar="CIDR", help="e.g. 203.0.113.0/24 (at most a /16)")
    add.add_argument("--note", help="why, for the other agents")
    data_dir(add)
    listing = actions.add_parser("list", help="the site's blocks and what each refused")
    listing.add_argument("--site", required=True, metavar="KEY")
    listing.add_argument("--json", action="store_true")
    data_dir(listing)
    remove = actions.add_parser("remove", help="lift a block")
    remove.add_argument("--site", required=True, metavar="KEY")
    remove.add_argument("id")
    data_dir(remove)

    limits = commands.add_parser("limits", help="a site's budgets per door (rate limits)")
    limit_actions = limits.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = limit_actions.add_parser("show", help="the site's budgets, defaults and its own")
    show.add_argument("--site", required=True, metavar="KEY")
    data_dir(show)
    change = limit_actions.add_parser("set", help="give the site its own budgets")
    change.add_argument("--site", required=True, metavar="KEY")
    change.add_argument("budget", nargs="+", metavar="DOOR.SCOPE=COUNT/SECONDS",
                        help=f"doors: {', '.join(rules.DOORS)}; scopes: {', '.join(rules.SCOPES)}")
    data_dir(change)
    reset = limit_actions.add_parser("reset", help="back to the defaults")
    reset.add_argument("--site", required=True, metavar="KEY")
    data_dir(reset)


async def _site(store: Store, key: str) -> sites.Site:
    site = await sites.by_key(store, key)
    if site is None:
        raise ValueError(f"no site with key {key!r}")
    return site


async def block_add(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    kind, value = next((k, v) for k, v in (("contact", args.contact), ("ip", args.ip),
                                           ("network", args.network)) if v)
    block, created = await blocks.add(store, site.id, kind, value, args.note, "cli")
    print(f"{'blocked' if created else 'already blocked'}: {block.kind} {block.value} (id {block.id})")
    return 0


async def block_list(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    found = [b.describe() for b in await blocks.listing(store, site.id)]
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for b in found:
        print(f"{b['id']:<18} {b['kind']:<8} {b['value']:<24} refused {b['hits']:>6}  {b['note'] or ''}")
    return 0


async def block_remove(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    if not await blocks.remove(store, site.id, args.id):
        raise ValueError(f"no block {args.id!r} on this site")
    print(f"unblocked {args.id}")
    return 0


async def limits_show(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    own = site.settings.get("limits") or {}
    for door in rules.DOORS:
        for scope, budget in rules.budgets(door, own).items():
            mark = "" if scope not in own.get(door, {}) else "  (the site's own)"
            print(f"{door}.{scope}={budget.count}/{budget.seconds:g}{mark}")
    return 0


async def _save(store: Store, site: sites.Site, limits: dict[str, Any]) -> None:
    settings = {key: value for key, value in site.settings.items() if key != "limits"}
    if limits:
        settings["limits"] = rules.check(limits)
    async with store.write() as conn:
        await conn.execute(update(sites_table).where(sites_table.c.id == site.id).values(settings=settings))
    sites.forget()


async def limits_set(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    own: dict[str, Any] = dict(site.settings.get("limits") or {})
    for text in args.budget:
        door, scope, budget = rules.parse(text)
        own[door] = {**own.get(door, {}), scope: [budget.count, budget.seconds]}
    await _save(store, site, own)
    return await limits_show(store, args)


async def limits_reset(store: Store, args: argparse.Namespace) -> int:
    await _save(store, await _site(store, args.site), {})
    print("back to the default budgets")
    return 0


COMMANDS: dict[tuple[str, str], Callable[[Store, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    ("block", "add"): block_add,
    ("block", "list"): block_list,
    ("block", "remove"): block_remove,
    ("limits", "show"): limits_show,
    ("limits", "set"): limits_set,
    ("limits", "reset"): limits_reset,
}
