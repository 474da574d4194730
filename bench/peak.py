"""The peak week: a shop's busiest hour replayed against the real server, then 40% more.

Real clients over loopback: thousands of visitors hold the widget's socket and browse (each
page view is the widget's token renewal with the page, plus its proactive-rules fetch; a
checkout page fires a proactive rule). A few hundred chats an hour arrive at random
(Poisson): each visitor first types (suggest-as-you-type `search`), then `start`s; article
questions get suggestions, and most of those visitors are helped ("that helped"), the rest
ask for a person; the others ask for a person at once. Agents (protocol clients doing what
the console does) are auto-assigned up to their cap, sync, read, type and answer; visitors
type, send, read and finally close and rate. Some visitors leave an email: the confirmation
goes out through a real SMTP server (aiosmtpd on loopback), the customer answers it by mail,
DKIM-signed by their domain, into chatserver's SMTP listener, and an agent answers the
ticket, which is mailed again.

The hour is compressed: HOUR_SECONDS of wall time replay 3,600 s of arrivals and think
times (60x in the full run). Page views keep their real pace, as heartbeats do: compressed,
they would make the shop sixty times bigger. Latencies the server causes (suggestions, delivery, page
views, mail) are wall-clock milliseconds; waits made of people's think time (queue wait,
first agent reply, handling time) are stated in shop seconds (wall x the factor) so they
compare with the Erlang C forecast for the same load.

Runs: the peak hour, then the same hour with 40% more of everything and 10% more agents,
then a ramp in steps of +40% (staffed as Erlang C says, so agents are not what runs out)
until a budget breaks. SQLite with one process, then PostgreSQL + Redis with two.

    python -m bench peak [--smoke]
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import services
from bench.common import (
    PASSWORD,
    Mode,
    Row,
    free_port,
    lifted_limits,
    median,
    percentile,
    run_async,
    set_limits,
    start_chatserver,
    stop,
)
from bench.shoppers import (
    AGENT_THINK,
    CAP,
    CUSTOMER_DOMAIN,
    EXCHANGES,
    FIRST_RESPONSE_TARGET,
    LATE_SECONDS,
    MAIL_DOMAIN,
    Figures,
    Hour,
    Prepared,
    Shop,
)
from chatserver import agents, auth, bootstrap, customers, proactive, sites
from chatserver.reports import erlang
from chatserver.store import Store

LOADS = (1.0, 1.4)  # the peak hour, then the holiday week's 40% more
STAFF = (1.0, 1.1)  # ... with 10% more agents
RAMP_STEP = 0.4
# The full hour: 300 chats among 3,600 visitors, at 60x; the smoke's, at 900x.
FULL = Shop(visitors=3600, chats_per_hour=300, agents=8, hour_seconds=60.0)
# The smoke's visitors view a page every 2 s, so its few seconds see some.
SMOKE = Shop(visitors=40, chats_per_hour=20, agents=2, hour_seconds=4.0, page_view_every=2.0)


async def prepare(url: str, visitors: int, agent_count: int) -> Prepared:
    """Set up the store directly: one shop, its agents, its visitors, a proactive rule."""
    store = Store(url)
    try:
        await bootstrap.prepare(store)
        signer = auth.Signer(await auth.instance_secret(store))
        site = await sites.create(store, "Peak shop", [])
        # Thousands of shoppers share the bench's one loopback address: the network's
        # budgets (and the shop's, which its owner sizes) are lifted; each visitor's hold.
        await set_limits(store, site.id, lifted_limits(("network", "site")))
        await proactive.add(store, site.id, "Checkout help", "url", "/checkout*",
                            "Questions about your order? We are here.", cap=1)
        emails = [f"agent{n}@{MAIL_DOMAIN}" for n in range(agent_count)]
        for email in emails:
            await agents.create(store, email, email.split("@")[0], PASSWORD, role="agent",
                                max_chats=CAP, site_ids=[site.id])
        tokens = [signer.visitor_token(auth.VisitorIdentity(site.id, await customers.create(store, site.id)))
                  for _ in range(visitors)]
        return Prepared(site.public_key, tokens, emails)
    finally:
        await store.close()


# -- running it -----------------------------------------------------------------------------


@dataclass
class Setup:
    name: str
    processes: int
    env: dict[str, str]


def _p(values: list[float], share: float) -> float:
    return percentile(values, share) if values else math.nan


def _rows(setup: Setup, label: str, shop: Shop, figures: Figures, usage: dict[str, float],
          budgets: bool) -> list[Row]:
    """The rows of one hour; budgets only where the issue sets them (+40% on one process)."""
    at = f"{setup.name}, {label}"
    lost = len(figures.sent)
    handling = median(figures.handling) if figures.handling else AGENT_THINK * (EXCHANGES + 1)
    staffing = erlang.agents_needed(max(1, figures.asked), handling, FIRST_RESPONSE_TARGET, CAP)
    within = (sum(w <= FIRST_RESPONSE_TARGET for w in figures.queue_wait) / len(figures.queue_wait)
              if figures.queue_wait else math.nan)
    failed_views = f"{figures.page_view_errors} page views failed" if figures.page_view_errors else ""
    problems = sorted({e.split(":", 1)[0] + ": " + e.split(":", 1)[1][:80] for e in figures.errors})[:3]
    rows = [
        Row("peak", f"{at}: chats in the hour (self-served / asked for a person / left an email)",
            figures.chats, note=f"{figures.self_served} / {figures.asked} / {figures.left_email}; "
            f"{len(figures.page_views)} page views, {figures.proactive_shown} proactive shows"),
        Row("peak", f"{at}: p50 time to first suggestion", _p(figures.suggest, 0.5), unit="ms"),
        Row("peak", f"{at}: p99 time to first suggestion", _p(figures.suggest, 0.99), unit="ms",
            budget="ours<=300" if budgets else ""),
        Row("peak", f"{at}: p50 message delivery", _p(figures.delivery, 0.5), unit="ms"),
        Row("peak", f"{at}: p99 message delivery", _p(figures.delivery, 0.99), unit="ms",
            budget="ours<=100" if budgets else ""),
        Row("peak", f"{at}: acknowledged messages lost", lost, budget="ours<=0",
            note=f"of {len(figures.delivery) + lost} delivered"),
        Row("peak", f"{at}: messages delivered late (> {LATE_SECONDS:g} s)", figures.late, budget="ours<=0"),
        Row("peak", f"{at}: p99 page view (token renewal + proactive rules)", _p(figures.page_views, 0.99),
            unit="ms", note=failed_views),
        Row("peak", f"{at}: p50 time to first agent reply (shop time)", _p(figures.first_reply, 0.5),
            unit="s"),
        Row("peak", f"{at}: p99 time to first agent reply (shop time)", _p(figures.first_reply, 0.99),
            unit="s"),
        Row("peak", f"{at}: mean queue wait (shop time) beside Erlang C",
            sum(figures.queue_wait) / len(figures.queue_wait) if figures.queue_wait else math.nan,
            staffing.mean_wait_s, "s"),
        Row("peak", f"{at}: answered within {FIRST_RESPONSE_TARGET:g} s beside Erlang C", within,
            staffing.service_level, "share"),
        Row("peak", f"{at}: agents (cap {CAP}) beside Erlang C's need for 80% in {FIRST_RESPONSE_TARGET:g} s",
            shop.agents, staffing.agents,
            note=f"{figures.asked} chats/h asked for a person, median handling {handling:.0f} s"),
        Row("peak", f"{at}: p99 mail: confirmation sent", _p(figures.mail["confirmation"], 0.99), unit="s"),
        Row("peak", f"{at}: p99 mail: customer's DKIM-signed reply in the ticket",
            _p(figures.mail["into ticket"], 0.99), unit="s"),
        Row("peak", f"{at}: p99 mail: agent's answer mailed", _p(figures.mail["answer mailed"], 0.99),
            unit="s"),
        Row("peak", f"{at}: mails not sent or not threaded", figures.mails_missing, budget="ours<=0"),
        Row("peak", f"{at}: server CPU ({setup.processes} process{'es' if setup.processes > 1 else ''})",
            usage["cpu_percent"], unit="% of a core",
            note=f"the bench's own clients used {usage['bench_cpu_percent']:.0f}% of a core"),
        Row("peak", f"{at}: server memory, peak ({shop.visitors:,} visitors connected)",
            usage["peak_rss_mib"], unit="MiB", budget="ours<=1024" if budgets else ""),
        Row("peak", f"{at}: chat flows that did not finish", figures.unfinished + len(figures.errors),
            budget="ours<=0", note="; ".join(problems)),
    ]
    return rows


# The budgets by figure, which stop the ramp whatever the setup.
BUDGETS = {"p99 time to first suggestion": 300, "p99 message delivery": 100,
           "acknowledged messages lost": 0, "messages delivered late": 0, "server memory": 1024,
           "chat flows that did not finish": 0, "mails not sent": 0}


def _broken(rows: list[Row]) -> list[str]:
    """Name the budgets the rows break (the ramp's stop rule)."""
    broken = []
    for row in rows:
        for name, limit in BUDGETS.items():
            if f": {name}" in row.figure and row.ours is not None and not row.ours <= limit:
                broken.append(f"{name} {row.ours:,.0f} > {limit}")
    return broken


async def _session(setup: Setup, shop: Shop, bases: list[str], smtp_ports: list[int], pids: list[int],
                   ready: Prepared, sink: services.Sink, signer: services.Signer, smoke: bool) -> list[Row]:
    """Replay the peak hour, +40% with +10% agents, then ramp until a budget breaks."""
    hour = Hour(shop, bases, smtp_ports, sink, signer, ready, pids)
    drain = 10.0 if smoke else 60.0
    ramp_steps = 0 if smoke else 3
    rows: list[Row] = []
    load, agent_count = LOADS[0], shop.agents
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        while True:
            step = hour.shop = shop.at(load, agent_count)
            await hour.connect_visitors(step.visitors)
            await hour.connect_agents(step.agents, http)
            label = ("peak hour" if load == LOADS[0] else f"peak +{(load - 1) * 100:.0f}%") + \
                f" ({step.visitors:,} visitors, {step.chats_per_hour} chats/h, {step.agents} agents)"
            print(f"peak: {setup.name}: {label}: replaying at {step.factor:.0f}x", flush=True)
            began = time.perf_counter()
            usage = await hour.replay(http, drain)
            print(f"peak: {setup.name}: {label}: done in {time.perf_counter() - began:.1f} s", flush=True)
            measured = _rows(setup, label, step, hour.figures, usage,
                             budgets=load == LOADS[1] and setup.processes == 1)
            # The ramp's steps show only what decides where it stops.
            rows += measured if load in LOADS else [
                r for r in measured if "CPU" in r.figure or any(f": {name}" in r.figure for name in BUDGETS)]
            if load < LOADS[1]:
                load, agent_count = LOADS[1], math.ceil(shop.agents * STAFF[1])
                continue
            broken = _broken(measured)
            if broken or load >= LOADS[1] + ramp_steps * RAMP_STEP - 1e-9:
                if smoke:
                    break
                rows.append(Row("peak", f"{setup.name}: ramp: highest load replayed (x the peak hour)", load,
                                note=f"first budget broken at {load:g}x: {'; '.join(broken)}" if broken
                                else f"no budget broken up to {load:g}x, the ramp's last step"))
                break
            # Staffed as Erlang C says for the next load, so the server, not the agents, runs out.
            handling = median(hour.figures.handling) if hour.figures.handling else AGENT_THINK * 4
            load = round(load + RAMP_STEP, 2)
            need = erlang.agents_needed(max(1, hour.figures.asked) * load / (load - RAMP_STEP), handling,
                                        FIRST_RESPONSE_TARGET, CAP).agents
            agent_count = min(max(need, step.agents), len(ready.agent_emails))
        for agent in hour.agents:
            await agent.client.close()
        await asyncio.gather(*(v.close() for v in hour.visitors), return_exceptions=True)
    return rows


def _run_setup(setup: Setup, base: Shop, smoke: bool, sink: services.Sink, zone: services.Zone,
               database_url: str, tmp: Path) -> list[Row]:
    most = LOADS[1] + (0 if smoke else 3) * RAMP_STEP
    began = time.perf_counter()
    # Each agent's password costs an argon2 hash: make only as many as the ramp can staff.
    ready = asyncio.run(prepare(database_url, round(base.visitors * most),
                                math.ceil(base.agents * STAFF[1]) if smoke else base.agents * 4))
    print(f"peak: {setup.name}: {round(base.visitors * most):,} visitors prepared in "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    signer = services.Signer(zone, CUSTOMER_DOMAIN)
    env = {**setup.env, "SMTP_URL": f"smtp://127.0.0.1:{sink.port}", "CHATSERVER_MAIL_DOMAIN": MAIL_DOMAIN,
           "CHATSERVER_MAIL_DNS": zone.address, "CHATSERVER_MAIL_RETRY_SECONDS": "0.5",
           # Real servers search by meaning too; the smoke saves the model's load time.
           "CHATSERVER_SEARCH_MEANING": "off" if smoke else "on"}
    processes = []
    try:
        for n in range(setup.processes):
            port = free_port()
            process, url = start_chatserver(tmp / f"data{n}", env=env, args=["--smtp-port", str(port)])
            processes.append((process, url, port))
            print(f"peak: {setup.name}: server {n + 1} answers after {time.perf_counter() - began:.1f} s",
                  flush=True)
        rows: list[Row] = run_async(lambda: _session(
            setup, base, [url for _, url, _ in processes], [port for _, _, port in processes],
            [p.pid for p, _, _ in processes], ready, sink, signer, smoke))
        return rows
    finally:
        for process, _, _ in processes:
            stop(process)


def run(mode: Mode) -> list[Row]:
    base: Shop = mode.pick(FULL, SMOKE)
    print(f"peak: a shop's busiest hour at {base.factor:.0f}x ({base.hour_seconds:g} s of wall time an "
          f"hour): {base.visitors:,} visitors, {base.chats_per_hour} chats/h, {base.agents} agents "
          f"(cap {CAP}); then +40% load and +10% agents; then +{RAMP_STEP * 100:.0f}% steps", flush=True)
    rows: list[Row] = []
    zone = services.Zone()
    try:
        with tempfile.TemporaryDirectory() as tmp_name, services.Sink().running() as sink:
            tmp = Path(tmp_name)
            (tmp / "sqlite" / "data0").mkdir(parents=True)
            rows += _run_setup(Setup("SQLite, 1 process", 1, {}), base, mode.smoke, sink, zone,
                               f"sqlite+aiosqlite:///{tmp / 'sqlite' / 'data0' / 'chatserver.db'}",
                               tmp / "sqlite")
            if mode.smoke:
                # The smoke keeps the CI run short: the two processes' path runs in the full bench.
                return rows
            try:
                with services.postgres() as database, services.redis() as broker:
                    rows += _run_setup(Setup("PostgreSQL + Redis, 2 processes", 2,
                                             {"DATABASE_URL": database, "REDIS_URL": broker}),
                                       base, mode.smoke, sink, zone, database, tmp / "postgres")
            except services.Missing as missing:
                print(f"peak: PostgreSQL + Redis skipped: {missing}", flush=True)
    finally:
        zone.close()
    return rows
