"""The `chatserver` command: serve, agents, sites."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from chatserver import __version__, agents, auth, bootstrap, config, sites
from chatserver.store import Store


class UsageError(Exception):
    """A bad argument or setting: shown as one line, never a traceback."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default=config.data_dir_default(),
        help="where the store, index and mail live (env CHATSERVER_DATA_DIR; "
        f"default {config.DEFAULT_DATA_DIR})",
    )


def build_parser() -> Parser:
    parser = Parser(prog="chatserver", description="An embeddable live-chat server.")
    parser.add_argument("--version", action="version", version=f"chatserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", default=config.DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=config.DEFAULT_PORT)
    _data_dir(serve)

    agents_cmd = commands.add_parser("agents", help="manage agents").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = agents_cmd.add_parser("add", help="add an agent (prints a password unless given)")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=agents.ROLES, default="agent")
    add.add_argument("--password", help="at least 10 characters; generated when left out")
    add.add_argument("--max-chats", type=int, default=agents.DEFAULT_MAX_CHATS)
    add.add_argument("--site", action="append", metavar="KEY",
                     help="a site key the agent serves (repeat; default: every site)")
    _data_dir(add)
    listing = agents_cmd.add_parser("list", help="list agents")
    listing.add_argument("--json", action="store_true")
    _data_dir(listing)

    sites_cmd = commands.add_parser("sites", help="manage sites").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add_site = sites_cmd.add_parser("add", help="add a site (prints its key and snippet)")
    add_site.add_argument("--name", required=True)
    add_site.add_argument("--origin", action="append", default=[],
                          help="an origin allowed to embed the widget, e.g. https://shop.example")
    _data_dir(add_site)
    list_sites = sites_cmd.add_parser("list", help="list sites")
    list_sites.add_argument("--json", action="store_true")
    _data_dir(list_sites)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        settings = config.load(args.data_dir, getattr(args, "host", config.DEFAULT_HOST),
                               getattr(args, "port", config.DEFAULT_PORT))
        if args.command == "serve":
            return serve(settings)
        command = COMMANDS[(args.command, args.action)]
        return asyncio.run(_with_store(settings, lambda store: command(store, args)))
    except (UsageError, config.ConfigError, ValueError) as problem:
        print(f"chatserver: error: {problem}", file=sys.stderr)
        return 2
    except OSError as problem:
        print(f"chatserver: error: {problem.strerror or problem}: {problem.filename or ''}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _with_store(
    settings: config.Settings, command: Callable[[Store], Coroutine[Any, Any, int]]
) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url)
    try:
        await store.migrate()
        return await command(store)
    finally:
        await store.close()


async def agents_add(store: Store, args: argparse.Namespace) -> int:
    password = args.password or auth.new_password()
    site_ids = None
    if args.site:
        site_ids = []
        for key in args.site:
            site = await sites.by_key(store, key)
            if site is None:
                raise UsageError(f"no site with key {key!r} (see: chatserver sites list)")
            site_ids.append(site.id)
    agent = await agents.create(
        store, args.email, args.name, password, role=args.role, max_chats=args.max_chats,
        site_ids=site_ids,
    )
    print(f"added {agent.role} {agent.email} ({agent.name}), id {agent.id}")
    if not args.password:
        print(f"password (shown once): {password}")
    return 0


async def agents_list(store: Store, args: argparse.Namespace) -> int:
    rows = [
        {"id": a.id, "email": a.email, "name": a.name, "role": a.role,
         "max_chats": a.max_chats, "disabled": a.disabled}
        for a in await agents.all_agents(store)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    for row in [] if args.json else rows:
        state = "disabled" if row["disabled"] else "active"
        print(f"{row['email']:<32} {row['name']:<24} {row['role']:<6} "
              f"cap {row['max_chats']:<3} {state}")
    return 0


async def sites_add(store: Store, args: argparse.Namespace) -> int:
    site = await sites.create(store, args.name, args.origin)
    print(f"added site {site.name!r} with key {site.public_key}")
    print(f'snippet: <script async src="https://YOUR-CHAT-HOST/widget.js" '
          f'data-site="{site.public_key}"></script>')
    return 0


async def sites_list(store: Store, args: argparse.Namespace) -> int:
    rows = [
        {"key": s.public_key, "name": s.name, "origins": list(s.allowed_origins)}
        for s in await sites.all_sites(store)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    for row in [] if args.json else rows:
        print(f"{row['key']:<24} {row['name']:<24} {' '.join(row['origins']) or '(own origin only)'}")
    return 0


COMMANDS: dict[tuple[str, str], Callable[[Store, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    ("agents", "add"): agents_add,
    ("agents", "list"): agents_list,
    ("sites", "add"): sites_add,
    ("sites", "list"): sites_list,
}


def serve(settings: config.Settings) -> int:
    """Prepare the data dir, print how to get in, and run the server until interrupted."""
    import uvicorn

    from chatserver.app import create_app
    from chatserver.sockets import HEARTBEAT_SECONDS

    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def prepare() -> bootstrap.Started:
        store = Store(settings.store_url)
        try:
            return await bootstrap.prepare(store)
        finally:
            await store.close()

    started = asyncio.run(prepare())
    base = f"http://{settings.host}:{settings.port}"
    print(f"chatserver {__version__}: data in {settings.data_dir.resolve()}")
    print(f"site {started.site.name!r}: key {started.site.public_key}")
    if started.admin_password:
        print(f"admin sign-in (shown once, keep it): {started.admin_email} / "
              f"{started.admin_password}")
    else:
        print(f"admin sign-in: {started.admin_email} (password as printed on first start)")
    print(f"serving on {base}", flush=True)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        # Compression multiplies the memory each idle socket holds; chat frames are small.
        ws_per_message_deflate=False,
        # Frames above the protocol limit get an error frame; far above it, the socket closes
        # (1009) before the frame is even buffered.
        ws_max_size=4 * settings.max_frame_bytes,
        ws_ping_interval=HEARTBEAT_SECONDS,
        ws_ping_timeout=HEARTBEAT_SECONDS,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
    )
    return 0
