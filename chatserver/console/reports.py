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

from chatserver import agents, i18n, sites
from chatserver import hours as business_hours
from chatserver.api import ApiError
from chatserver.console import pages
from chatserver.reports import api as reports_api
from chatserver.reports import charts
from chatserver.reports.metrics import Table

SECTIONS = ("volume", "hours", "times", "breaches", "ratings", "comments", "self_service",
            "articles", "gaps", "agents", "proactive", "forecast")


def _charts(tables: dict[str, Table], t: Callable[..., str]) -> dict[str, Any]:
    volume = tables["volume"]
    drawn: dict[str, Any] = {
        "volume": charts.bars(
            "chart-volume", t("report_by_day"), [str(r[0])[5:] for r in volume.rows],
            [charts.Series(t("report_chat"), [r[1] for r in volume.rows]),  # type: ignore[misc]
             charts.Series(t("report_email"), [r[2] for r in volume.rows])],  # type: ignore[misc]
            every=max(1, len(volume.rows) // 12)),
        "hours": charts.week_heatmap(
            "chart-hours", t("report_by_hour"),
            [t(key) for key in ["report_day_" + day for day in business_hours.DAYS]],
            {(business_hours.DAYS.index(str(r[0])), int(r[1] or 0)): float(r[2] or 0)
             for r in tables["hours"].rows}),
        "times": [],
    }
    for row in tables["times"].rows:
        kind, metric, _, median, p90, target = row[:6]
        kind_key = "report_" + str(kind)  # report_chat, report_email
        kind_name, seconds = t(kind_key), t("report_seconds")
        drawn["times"].append(charts.bars(
            f"chart-{kind}-{metric}",
            f"{kind_name} · {str(metric).replace('_', ' ')} ({seconds})",
            [t("report_median"), t("report_p90")],
            [charts.Series(str(kind), [median, p90])],  # type: ignore[list-item]
            target=float(target or 0), target_label=t("report_target")))
    rows = tables["forecast"].rows
    drawn["forecast"] = charts.bars(
        "chart-forecast", t("report_forecast_chart"), [f"{r[0]} {r[1]:02d}" for r in rows],
        [charts.Series(t("report_needed"), [r[3] for r in rows]),  # type: ignore[misc]
         charts.Series(t("report_with_surge"), [r[5] for r in rows]),  # type: ignore[misc]
         charts.Series(t("report_scheduled"), [r[7] for r in rows])],  # type: ignore[misc]
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
    t = i18n.translator(who.locale)
    context: dict[str, Any] = {"choices": choices, "site": site, "params": params,
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
            context["charts"] = _charts(context["tables"], t)
        except ApiError as problem:
            context["error"] = problem.message
            context["tables"], context["charts"] = {}, {}
    return pages.render(request, "reports.html", who, status=400 if context["error"] else 200,
                        **context)
