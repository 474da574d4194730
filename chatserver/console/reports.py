"""The console's reports page: one site and date range, charts drawn as SVG on the server.

Every figure comes from the same Table objects as GET /api/v1/reports/... (reports/api.py),
so the page, the CSV and the JSON agree. No script: a plain GET form picks the site, range
and surge, which also makes each view a link an admin can share.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from starlette.requests import Request
from starlette.responses import Response

from chatserver import agents, i18n, sites
from chatserver import hours as business_hours
from chatserver.api import ApiError
from chatserver.console import pages
from chatserver.reports import api as reports_api
from chatserver.reports import charts, display
from chatserver.reports.metrics import Table

SECTIONS = ("volume", "hours", "times", "breaches", "ratings", "comments", "self_service",
            "articles", "votes", "gaps", "agents", "proactive", "forecast")


def _charts(tables: dict[str, Table], t: Callable[..., str], locale: str) -> dict[str, Any]:
    volume = tables["volume"]
    days = [format_date(dt.date.fromisoformat(str(r[0])), "d MMM", locale=locale) for r in volume.rows]
    drawn: dict[str, Any] = {
        "volume": charts.bars(
            "chart-volume", t("report_by_day"), days,
            [charts.Series(t("report_chat"), [r[1] for r in volume.rows]),  # type: ignore[misc]
             charts.Series(t("report_email"), [r[2] for r in volume.rows])],  # type: ignore[misc]
            every=max(1, len(volume.rows) // 10), x_label=t("report_axis_day"),
            y_label=t("report_axis_count"), width=900),
        "hours": charts.week_heatmap(
            "chart-hours", t("report_by_hour"),
            [display.word("report_weekday_", day, t) for day in business_hours.DAYS],
            {(business_hours.DAYS.index(str(r[0])), int(r[1] or 0)): float(r[2] or 0)
             for r in tables["hours"].rows}),
        "times": [],
    }
    for row in tables["times"].rows:
        kind, metric, _, median, p90, target = row[:6]
        size, axis = display.time_unit(max(float(v or 0) for v in (median, p90, target)))
        drawn["times"].append(charts.bars(
            f"chart-{kind}-{metric}",
            f"{display.word('report_kind_', kind, t)} · {display.word('report_metric_', metric, t)}",
            [t("report_median"), t("report_p90")],
            [charts.Series(display.word("report_kind_", kind, t),
                           [None if v is None else float(v) / size for v in (median, p90)])],
            target=float(target or 0) / size, target_label=t("report_target"),
            y_label=t(axis), width=440, fmt=lambda v: format_decimal(round(v, 2), locale=locale)))
    rows = tables["forecast"].rows
    drawn["forecast"] = charts.bars(
        "chart-forecast", t("report_forecast_chart"),
        [f"{display.word('report_day_', r[0], t)} {r[1]:02d}:00" for r in rows],
        [charts.Series(t("report_needed"), [r[3] for r in rows]),  # type: ignore[misc]
         charts.Series(t("report_with_surge"), [r[5] for r in rows]),  # type: ignore[misc]
         charts.Series(t("report_scheduled"), [r[7] for r in rows])],  # type: ignore[misc]
        every=max(1, len(rows) // 8), x_label=t("report_axis_weekday_hour"),
        y_label=t("report_axis_agents"), width=900)
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
                               "error": None, "tables": {}, "charts": {}, "shown": {}}
    if site is not None:
        try:
            for name in SECTIONS:
                table, used = await reports_api.build(rt, site, name, params)
                context["tables"][name] = table
                if name == "volume":
                    params = {**params, **used}
            params.setdefault("surge", "0")
            context["params"] = params
            context["charts"] = _charts(context["tables"], t, who.locale)
            context["shown"] = {name: display.readable(table, t, who.locale)
                                for name, table in context["tables"].items()}
        except ApiError as problem:
            context["error"] = problem.message
            if isinstance(problem, reports_api.ParameterError):
                # What to fix in the admin's words; a field is named as the form labels it.
                values = dict(problem.values)
                if "name" in values:
                    values["name"] = display.word("report_param_", values["name"], t)
                context["error"] = t(problem.key, **values)
            context["tables"], context["charts"] = {}, {}
    return pages.render(request, "reports.html", who, status=400 if context["error"] else 200,
                        **context)
