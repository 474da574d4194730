"""The `chatserver forecast` and `chatserver proactive` commands (wired in chatserver/cli.py)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from typing import Any

from chatserver import proactive, sites
from chatserver.reports import api as reports_api
from chatserver.reports import forecast, history, staffing
from chatserver.store import Store, now_ms


def add_commands(commands: Any, data_dir: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the forecast and proactive commands to the `chatserver` parser."""
    fc = commands.add_parser("forecast", help="agents needed per hour to meet the chat first-response target")
    fc.add_argument("--site", required=True, metavar="KEY")
    fc.add_argument("--surge", type=float, default=0.0, metavar="PERCENT",
                    help="what if volume were this much higher, e.g. 40")
    fc.add_argument("--weeks", type=int, default=forecast.DEFAULT_WEEKS,
                    help=f"weeks of history to measure (default {forecast.DEFAULT_WEEKS})")
    fc.add_argument("--schedule", action="append", metavar="'mon-fri 9-17 3'",
                    help="set the agents scheduled (repeat; replaces the site's schedule)")
    fc.add_argument("--json", action="store_true")
    fc.set_defaults(action="run")
    data_dir(fc)

    pro = commands.add_parser("proactive", help="proactive chat rules").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = pro.add_parser("add", help="add a rule that opens the widget with a message")
    add.add_argument("--site", required=True, metavar="KEY")
    add.add_argument("--name", required=True)
    add.add_argument("--trigger", required=True, choices=proactive.TRIGGERS)
    add.add_argument("--value", required=True,
                     help="seconds on the page, a path pattern (/checkout*) or an event name")
    add.add_argument("--message", required=True)
    add.add_argument("--cap", type=int, default=1, help="shows per visitor at most (default 1)")
    data_dir(add)
    listing = pro.add_parser("list", help="list a site's rules")
    listing.add_argument("--site", required=True, metavar="KEY")
    listing.add_argument("--json", action="store_true")
    data_dir(listing)


async def _site(store: Store, key: str) -> sites.Site:
    site = await sites.by_key(store, key)
    if site is None:
        raise ValueError(f"no site with key {key!r} (see `chatserver sites list`)")
    return site


async def forecast_run(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    forecast.check_surge(args.surge)
    if not 1 <= args.weeks <= reports_api.MAX_WEEKS:
        raise ValueError(f"--weeks must be from 1 to {reports_api.MAX_WEEKS}")
    if args.schedule:
        await staffing.replace(store, site.id, staffing.parse(args.schedule))
    inputs = await history.forecast_inputs(store, site, args.weeks, now_ms())
    if args.json:
        table = forecast.table(inputs, args.surge)
        print(json.dumps({"columns": table.columns, "rows": table.rows}))
    else:
        print(forecast.text(inputs, args.surge))
    return 0


async def proactive_add(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    rule = await proactive.add(store, site.id, args.name, args.trigger, args.value, args.message, args.cap)
    print(f"rule {rule.id} added: {rule.trigger} {rule.value!r}, at most {rule.cap} per visitor")
    return 0


async def proactive_list(store: Store, args: argparse.Namespace) -> int:
    site = await _site(store, args.site)
    found = await proactive.rules(store, site.id)
    if args.json:
        print(json.dumps([r.__dict__ for r in found]))
        return 0
    for r in found:
        state = "on" if r.enabled else "off"
        print(f"{r.id}  {state:3}  {r.trigger:5}  {r.value:20}  cap {r.cap}  {r.name}: {r.message}")
    return 0


COMMANDS: dict[tuple[str, str], Callable[[Store, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    ("forecast", "run"): forecast_run,
    ("proactive", "add"): proactive_add,
    ("proactive", "list"): proactive_list,
}
