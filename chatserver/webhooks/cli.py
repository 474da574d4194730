"""`chatserver webhooks list|add|remove|dead|replay`: the admin API's work from a shell.

A running server hears of a webhook added or removed here within a few seconds
(outbox.SUBSCRIBERS_SECONDS), and sends replayed dead letters at its next poll.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Coroutine
from typing import Any

from chatserver import sites
from chatserver.store import Store
from chatserver.webhooks import events, guard, outbox, signing, subscriptions
from chatserver.webhooks import settings as webhook_settings


def add_commands(commands: Any, data_dir: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add `webhooks` and its actions to the `chatserver` parser."""
    hooks = commands.add_parser("webhooks", help="signed webhooks: subscriptions and dead letters")
    actions = hooks.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list a site's webhooks (every site's without --site)")
    listing.add_argument("--site", metavar="KEY")
    listing.add_argument("--json", action="store_true")
    data_dir(listing)
    add = actions.add_parser("add", help="subscribe a URL to events (prints its secret, once)")
    add.add_argument("--site", required=True, metavar="KEY")
    add.add_argument("--url", required=True)
    add.add_argument("--event", action="append", metavar="NAME",
                     help=f"repeat; default every event: {', '.join(events.NAMES)}")
    data_dir(add)
    remove = actions.add_parser("remove", help="delete a webhook and its deliveries")
    remove.add_argument("--site", required=True, metavar="KEY")
    remove.add_argument("id")
    data_dir(remove)
    dead = actions.add_parser("dead", help="list dead letters (deliveries that gave up)")
    dead.add_argument("--site", metavar="KEY")
    dead.add_argument("--json", action="store_true")
    data_dir(dead)
    replay = actions.add_parser("replay", help="try dead letters again (all, or those named)")
    replay.add_argument("--site", metavar="KEY")
    replay.add_argument("ids", nargs="*", metavar="ID")
    data_dir(replay)


async def _site(store: Store, key: str) -> sites.Site:
    site = await sites.by_key(store, key)
    if site is None:
        raise ValueError(f"no site with key {key!r} (see `chatserver sites list`)")
    return site


async def _site_id(store: Store, key: str | None) -> str | None:
    return (await _site(store, key)).id if key else None


async def webhooks_list(store: Store, args: argparse.Namespace) -> int:
    chosen = [await _site(store, args.site)] if args.site else await sites.all_sites(store)
    rows = [{"site": site.public_key, **s.public()}
            for site in chosen for s in await subscriptions.of_site(store, site.id)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        state = "on" if row["enabled"] else "off"
        print(f"{row['id']:<18} {row['site']:<24} {state:<3} {row['url']}  {','.join(row['events'])}")
    return 0


async def webhooks_add(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    names = subscriptions.check_events(args.event or "*")
    allow = webhook_settings.from_env(dict(os.environ)).allow
    try:
        url = await subscriptions.check_url(store, allow, site.id, args.url)
    except guard.Refused as refused:
        raise ValueError(f"{args.url}: {refused}") from None
    secret = signing.new_secret()
    made = await subscriptions.create(store, site.id, url, names, secret)
    print(f"added webhook {made.id} for {site.public_key}: {made.url}")
    print(f"secret (shown once, keep it): {secret}")
    return 0


async def webhooks_remove(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    if not await subscriptions.remove(store, site.id, args.id):
        raise ValueError(f"site {site.public_key} has no webhook {args.id}")
    print(f"removed webhook {args.id}")
    return 0


async def webhooks_dead(store: Store, args: argparse.Namespace) -> int:
    rows = await outbox.dead_letters(store, await _site_id(store, args.site), limit=1000)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['id']:<18} {row['site']:<24} {row['type']:<22} tries {row['attempts']:<3} "
              f"{row['url']}  {row['error']}")
    print(f"{len(rows)} dead letters")
    return 0


async def webhooks_replay(store: Store, args: argparse.Namespace) -> int:
    count = await outbox.replay(store, await _site_id(store, args.site), args.ids or None)
    print(f"{count} dead letters will be tried again")
    return 0


COMMANDS: dict[tuple[str, str], Callable[[Store, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    ("webhooks", "list"): webhooks_list,
    ("webhooks", "add"): webhooks_add,
    ("webhooks", "remove"): webhooks_remove,
    ("webhooks", "dead"): webhooks_dead,
    ("webhooks", "replay"): webhooks_replay,
}
