"""The console's reports page: one site and date range, charts drawn as SVG on the server.

Every figure comes from the same Table objects as GET /api/v1/reports/... (reports/api.py),
so the page, the CSV and the JSON agree. No script: a plain GET form picks the site, range
and surge, which also makes each view a link an admin can share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from chatserver import agents, sites
from chatserver import hours as business_hours
from chatserver.api import ApiError
from chatserver.console import pages
from chatserver.reports import api as reports_api
from chatserver.reports import charts
from chatserver.reports.metrics import Table

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Reports", "show": "Show", "from": "From", "to": "To", "surge": "Surge %",
        "volume": "Volume", "by_day": "Chats and email tickets per day",
        "by_hour": "Chats per hour of the week", "times": "Response times against targets",
        "ratings": "Ratings", "self_service": "Self-service", "articles": "Top articles",
        "gaps": "Content gaps: questions that reached a person without an article",
        "agents": "Agents", "proactive": "Proactive messages", "forecast": "Staffing forecast",
        "forecast_chart": "Agents needed per hour, with the surge, and agents scheduled",
        "breaches": "SLA breaches", "download": "CSV", "none": "Nothing in this range.",
        "share_good": "good", "self_served": "self-served", "needed": "needed",
        "with_surge": "with surge", "scheduled": "scheduled", "median": "median", "p90": "90th pct",
        "target": "target", "chat": "chat", "email": "email", "seconds": "seconds",
        "definitions": "How each figure is computed: docs/metrics.md.",
    },
    "nl": {
        "title": "Rapporten", "show": "Toon", "from": "Van", "to": "Tot en met", "surge": "Piek %",
        "volume": "Volume", "by_day": "Chats en e-mailtickets per dag",
        "by_hour": "Chats per uur van de week", "times": "Reactietijden tegen de doelen",
        "ratings": "Beoordelingen", "self_service": "Zelfservice", "articles": "Meest gelezen artikelen",
        "gaps": "Ontbrekende inhoud: vragen die zonder artikel bij een persoon kwamen",
        "agents": "Medewerkers", "proactive": "Proactieve berichten", "forecast": "Bezettingsprognose",
        "forecast_chart": "Benodigde medewerkers per uur, met piek, en ingeroosterd",
        "breaches": "SLA-overschrijdingen", "download": "CSV", "none": "Niets in deze periode.",
        "share_good": "goed", "self_served": "zelf opgelost", "needed": "nodig",
        "with_surge": "met piek", "scheduled": "ingeroosterd", "median": "mediaan",
        "p90": "90e pct", "target": "doel", "chat": "chat", "email": "e-mail", "seconds": "seconden",
        "definitions": "Hoe elk cijfer berekend wordt: docs/metrics.md.",
    },
}
SECTIONS = ("volume", "hours", "times", "breaches", "ratings", "comments", "self_service",
            "articles", "gaps", "agents", "proactive", "forecast")


def words(locale: str) -> Callable[[str], str]:
    chosen = WORDS.get(locale, WORDS["en"])
    return lambda key: chosen.get(key) or WORDS["en"].get(key) or key


def _charts(tables: dict[str, Table], w: Callable[[str], str]) -> dict[str, Any]:
    volume = tables["volume"]
    drawn: dict[str, Any] = {
        "volume": charts.bars(
            "chart-volume", w("by_day"), [str(r[0])[5:] for r in volume.rows],
            [charts.Series(w("chat"), [r[1] for r in volume.rows]),  # type: ignore[misc]
             charts.Series(w("email"), [r[2] for r in volume.rows])],  # type: ignore[misc]
            every=max(1, len(volume.rows) // 12)),
        "hours": charts.week_heatmap(
            "chart-hours", w("by_hour"), business_hours.DAYS,
            {(business_hours.DAYS.index(str(r[0])), int(r[1] or 0)): float(r[2] or 0)
             for r in tables["hours"].rows}),
        "times": [],
    }
    for row in tables["times"].rows:
        kind, metric, _, median, p90, target = row[:6]
        drawn["times"].append(charts.bars(
            f"chart-{kind}-{metric}", f"{w(str(kind))} · {str(metric).replace('_', ' ')} ({w('seconds')})",
            [w("median"), w("p90")],
            [charts.Series(str(kind), [median, p90])],  # type: ignore[list-item]
            target=float(target or 0), target_label=w("target")))
    rows = tables["forecast"].rows
    drawn["forecast"] = charts.bars(
        "chart-forecast", w("forecast_chart"), [f"{r[0]} {r[1]:02d}" for r in rows],
        [charts.Series(w("needed"), [r[3] for r in rows]),  # type: ignore[misc]
         charts.Series(w("with_surge"), [r[5] for r in rows]),  # type: ignore[misc]
         charts.Series(w("scheduled"), [r[7] for r in rows])],  # type: ignore[misc]
        every=max(1, len(rows) // 10))
    return drawn


async def reports_page(request: Request) -> Response:
    who = await pages.viewer(request)
    if who is None:
        return pages.to_signin(request)
    if not who.is_admin:
        return pages.forbidden(request, who)
    rt = pages.runtime(request)
    allowed = set(await agents.site_ids(rt.store, who.agent))
    choices = [s for s in await sites.all_sites(rt.store) if s.id in allowed]
    params = dict(request.query_params)
    site = next((s for s in choices if s.public_key == params.get("site")), choices[0] if choices else None)
    w = words(who.locale)
    context: dict[str, Any] = {"w": w, "choices": choices, "site": site, "params": params,
                               "error": None, "tables": {}, "charts": {}}
    if site is not None:
        try:
            for name in SECTIONS:
                table, used = await reports_api.build(rt, site, name, params)
                context["tables"][name] = table
                if name == "volume":
                    params = {**params, **used}
            params.setdefault("surge", "0")
            context["params"] = params
            context["charts"] = _charts(context["tables"], w)
        except ApiError as problem:
            context["error"] = problem.message
            context["tables"], context["charts"] = {}, {}
    return pages.render(request, "reports.html", who, status=400 if context["error"] else 200,
                        **context)
