"""The `chatserver` command: serve, agents, sites, api-token."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from sqlalchemy.exc import DBAPIError

from chatserver import (
    __version__,
    agents,
    articles,
    auth,
    bootstrap,
    config,
    i18n,
    kb,
    site_settings,
    sites,
    suggestions,
)
from chatserver.files import copy as files_copy
from chatserver.limits import cli as limits_cli
from chatserver.mail import outbox
from chatserver.public_api import cli as api_token_cli
from chatserver.reports import cli as reports_cli
from chatserver.store import Store
from chatserver.store import backup as store_backup
from chatserver.store import copy as store_copy
from chatserver.suggestions import Suggester
from chatserver.webhooks import cli as webhooks_cli


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
    serve.add_argument("--smtp-port", type=int, metavar="PORT",
                       help="also listen for email replies by SMTP on this port (e.g. 2525)")
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
    switch = sites_cmd.add_parser("channels", help="switch a site's channels on or off; show them")
    switch.add_argument("key", help="the site's key (see: chatserver sites list)")
    switch.add_argument("--on", action="append", default=[], metavar="CHANNEL",
                        help="chat, email, form or api:<name> (repeat)")
    switch.add_argument("--off", action="append", default=[], metavar="CHANNEL")
    _data_dir(switch)

    kb_cmd = commands.add_parser("kb", help="the help centre and its search").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    index = kb_cmd.add_parser(
        "index", help="import a folder of Markdown articles or an HTML help-centre export and index it"
    )
    index.add_argument("--source", type=Path, default=articles.DEFAULT_SOURCE,
                       help="folder of articles (replaces the current set; default: the shipped one)")
    index.add_argument("--locale", choices=articles.LOCALES, default=i18n.DEFAULT,
                       help="the language of articles that neither front matter, <html lang> nor an "
                       "en/ or nl/ folder names (default: %(default)s)")
    _data_dir(index)
    search = kb_cmd.add_parser("search", help="ask the help centre a question")
    search.add_argument("question")
    search.add_argument("--locale", choices=articles.LOCALES)
    search.add_argument("--limit", type=int, default=3)
    search.add_argument("--json", action="store_true")
    _data_dir(search)
    evaluate = kb_cmd.add_parser("eval", help="measure search quality on question sets")
    evaluate.add_argument("questions", nargs="+", type=Path, metavar="QUESTIONS.jsonl")
    evaluate.add_argument("--json", action="store_true", help="the figures and every miss as one JSON object")
    _data_dir(evaluate)

    mail_cmd = commands.add_parser("mail", help="the outgoing mail").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    _data_dir(mail_cmd.add_parser("status", help="count outgoing mail: pending, sent, dead"))
    _data_dir(mail_cmd.add_parser("retry", help="give every dead letter a fresh set of tries"))

    move = commands.add_parser("migrate-store", help="copy the SQLite store into PostgreSQL")
    move.add_argument("--to", metavar="URL", default=os.environ.get("DATABASE_URL", ""),
                      help="an empty PostgreSQL database (default: env DATABASE_URL)")
    move.add_argument("--files", action="store_true",
                      help="instead, copy the data dir's chat files into S3 (CHATSERVER_FILES=s3)")
    _data_dir(move)
    save = commands.add_parser("backup", help="write a checked copy of the SQLite store (server may run)")
    save.add_argument("file", type=Path, help="the new backup file (never overwritten)")
    _data_dir(save)
    reports_cli.add_commands(commands, _data_dir)
    api_token_cli.add_commands(commands, _data_dir)
    webhooks_cli.add_commands(commands, _data_dir)
    limits_cli.add_commands(commands, _data_dir)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        settings = config.load(args.data_dir, getattr(args, "host", config.DEFAULT_HOST),
                               getattr(args, "port", config.DEFAULT_PORT),
                               smtp_port=getattr(args, "smtp_port", None))
        if args.command == "serve":
            return serve(settings)
        if args.command == "migrate-store" and args.files:
            return asyncio.run(files_copy.run(settings))
        if args.command == "migrate-store":
            return asyncio.run(store_copy.run(settings.data_dir, _postgres_url(args.to)))
        if args.command == "backup":
            return _backup(settings, args.file)
        command = COMMANDS[(args.command, args.action)]
        return asyncio.run(_with_store(settings, lambda store: command(store, args)))
    except (UsageError, config.ConfigError, ValueError, store_copy.CopyError,
            files_copy.FilesCopyError, store_backup.BackupError) as problem:
        print(f"chatserver: error: {problem}", file=sys.stderr)
        return 2
    except OSError as problem:
        print(f"chatserver: error: {problem.strerror or problem}: {problem.filename or ''}",
              file=sys.stderr)
        return 1
    except DBAPIError as problem:
        # A full or read-only data dir, a database that refuses us: say which, in one line.
        print(f"chatserver: error: the store cannot be used ({problem.orig}): {_where(settings)}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _backup(settings: config.Settings, target: Path) -> int:
    counts = store_backup.backup(settings, target)
    print(f"backed up {sum(counts.values())} rows in {len(counts)} tables to {target} "
          "(integrity check: ok)")
    return 0


def _where(settings: config.Settings) -> str:
    if settings.database_url:
        return settings.database_url.split("@")[-1]
    return f"{settings.data_dir / 'chatserver.db'} (check its disk space and permissions)"


def _postgres_url(url: str) -> str:
    if not url.startswith("postgresql"):
        raise UsageError("migrate-store needs --to postgresql://USER@HOST/DB (or DATABASE_URL)")
    return config.load(".", environ={"DATABASE_URL": url}).store_url


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


async def sites_channels(store: Store, args: argparse.Namespace) -> int:
    site = await sites.by_key(store, args.key)
    if site is None:
        raise UsageError(f"no site with key {args.key!r} (see: chatserver sites list)")
    # A ChannelError is a ValueError: one line and exit code 2, nothing changed.
    switches = await site_settings.set_channels(store, site.id, args.on, args.off)
    for name, on in switches.items():
        print(f"{name:<24} {'on' if on else 'off'}")
    return 0


async def _suggester(store: Store, args: argparse.Namespace) -> Suggester:
    """Open the data dir's search index, brought up to date with the store."""
    for problem in await suggestions.seed(store):
        print(f"skipped {problem}", file=sys.stderr)
    suggester = Suggester.open(Path(args.data_dir), config.load(args.data_dir).search_meaning)
    # Progress on stderr, so what a command prints on stdout (`--json`) stays machine-readable.
    await suggester.refresh(store, progress=lambda line: print(line, file=sys.stderr, flush=True))
    return suggester


async def kb_index(store: Store, args: argparse.Namespace) -> int:
    found, problems = articles.load_articles(args.source, args.locale)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    if not found:
        raise UsageError(f"no articles found in {args.source}")
    counts = await articles.replace_all(store, found)
    print(" ".join(f"{key} {value}" for key, value in counts.items()))
    (await _suggester(store, args)).close()
    return 1 if problems else 0


async def kb_search(store: Store, args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 20:
        raise UsageError("--limit must be from 1 to 20")
    suggester = await _suggester(store, args)
    try:
        hits = await suggester.suggest(args.question, args.locale, args.limit)
    finally:
        suggester.close()
    if args.json:
        print(json.dumps([dataclasses.asdict(hit) for hit in hits], indent=2, ensure_ascii=False))
    elif not hits:
        print("no article is a confident answer: this question goes to a person")
    for hit in [] if args.json else hits:
        print(f"{hit.score:6.2f}  {hit.locale}/{hit.slug}  {hit.title}\n        {hit.snippet}")
    return 0


async def kb_eval(store: Store, args: argparse.Namespace) -> int:
    questions = [q for path in args.questions for q in kb.load_questions(path)]
    suggester = await _suggester(store, args)
    try:
        report = await asyncio.to_thread(kb.evaluate, suggester.index, questions)
    finally:
        suggester.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    misses, hidden, wrongly_shown = (
        cast(list[dict[str, Any]], report.pop(key)) for key in ("misses", "hidden", "wrongly_shown")
    )
    print(" ".join(f"{key} {_figure(value)}" for key, value in report.items()))
    for miss in misses:
        print(f"missed: {miss['question']!r} expected {miss['expected']} got {miss['got']}")
    for miss in hidden:
        print(f"hidden: {miss['question']!r} expected {miss['expected']} shown {miss['shown']}")
    for wrong in wrongly_shown:
        print(f"shown to {wrong['kind']}: {wrong['question']!r} shown {wrong['shown']}")
    return 0


def _figure(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "n/a" if value is None else str(value)


async def mail_status(store: Store, args: argparse.Namespace) -> int:
    counts = await outbox.counts(store)
    print(" ".join(f"{state} {count}" for state, count in counts.items()))
    return 0


async def mail_retry(store: Store, args: argparse.Namespace) -> int:
    """After the mail server is fixed: dead letters get tries again; a running server sends them."""
    print(f"{await outbox.retry_dead(store)} dead letters will be tried again")
    return 0


COMMANDS: dict[tuple[str, str], Callable[[Store, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    ("agents", "add"): agents_add,
    ("agents", "list"): agents_list,
    ("sites", "add"): sites_add,
    ("sites", "list"): sites_list,
    ("sites", "channels"): sites_channels,
    ("kb", "index"): kb_index,
    ("kb", "search"): kb_search,
    ("kb", "eval"): kb_eval,
    ("mail", "status"): mail_status,
    ("mail", "retry"): mail_retry,
    **reports_cli.COMMANDS,
    **api_token_cli.COMMANDS,
    **webhooks_cli.COMMANDS,
    **limits_cli.COMMANDS,
}


def serve(settings: config.Settings) -> int:
    """Prepare the data dir, print how to get in, and run the server until interrupted."""
    import uvicorn

    from chatserver.app import create_app
    from chatserver.chat.commands import HEARTBEAT_SECONDS
    from chatserver.server.lean import LeanSansIOProtocol

    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def prepare() -> bootstrap.Started:
        store = Store(settings.store_url)
        try:
            return await bootstrap.prepare(store)
        finally:
            await store.close()

    started = asyncio.run(prepare())
    for problem in started.problems:
        print(f"help centre: skipped {problem}")
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
        # uvicorn's websockets-sansio implementation, trimmed per idle socket (server/lean.py).
        ws=LeanSansIOProtocol,
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
