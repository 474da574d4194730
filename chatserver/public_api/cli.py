"""The `chatserver api-token create|list|revoke` commands (wired in chatserver/cli.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable, Coroutine
from typing import Any

from chatserver import sites
from chatserver.public_api import tokens
from chatserver.store import Store


def add_commands(commands: Any, data_dir: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the api-token commands to the `chatserver` parser."""
    cmd = commands.add_parser("api-token", help="a site's tokens for the public API").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = cmd.add_parser("create", help="make a token (printed once, never stored)")
    create.add_argument("--site", required=True, metavar="KEY")
    create.add_argument("--name", required=True, help="what uses it, e.g. 'CRM sync'")
    create.add_argument("--scope", action="append", choices=tokens.SCOPES, required=True,
                        help="read, write (includes read) or admin (includes write); repeatable")
    data_dir(create)
    listing = cmd.add_parser("list", help="list a site's tokens: prefix, scopes, created, last used")
    listing.add_argument("--site", required=True, metavar="KEY")
    listing.add_argument("--json", action="store_true")
    data_dir(listing)
    revoke = cmd.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("--site", required=True, metavar="KEY")
    revoke.add_argument("token_id", metavar="ID")
    data_dir(revoke)


async def _site(store: Store, key: str) -> sites.Site:
    site = await sites.by_key(store, key)
    if site is None:
        raise ValueError(f"no site with key {key!r} (see `chatserver sites list`)")
    return site


def _when(ms: int | None) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M") if ms else "never"


async def create(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    token, secret = await tokens.create(store, site.id, args.name, args.scope, "command line")
    print(f"created token {token.id} ({', '.join(token.scopes)}) for site {site.name!r}")
    print(f"token (shown once, keep it secret): {secret}")
    return 0


async def listing(store: Store, args: argparse.Namespace) -> int:
    found = await tokens.of_site(store, (await _site(store, args.site)).id)
    if args.json:
        print(json.dumps([t.public() for t in found], indent=2))
        return 0
    for t in found:
        state = f"revoked {_when(t.revoked_at)}" if t.revoked_at else f"last used {_when(t.last_used_at)}"
        print(f"{t.id:<18} {t.prefix}... {','.join(t.scopes):<17} {t.name:<24} "
              f"created {_when(t.created_at)}  {state}")
    return 0


async def revoke(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    if not await tokens.revoke(store, site.id, args.token_id):
        raise ValueError(f"no live token {args.token_id!r} for this site (see `chatserver api-token list`)")
    print(f"revoked token {args.token_id}")
    return 0


COMMANDS: dict[tuple[str, str], Callable[[Store, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    ("api-token", "create"): create,
    ("api-token", "list"): listing,
    ("api-token", "revoke"): revoke,
}
