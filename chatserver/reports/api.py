"""GET /api/v1/reports/{name}: every report as JSON, or as CSV with ?format=csv; same numbers.

Admins only: the reports show every agent's figures. Query: site (its public key), from and
to (YYYY-MM-DD, inclusive, in the site's time zone; default the last 7 days); the forecast
takes weeks and surge instead. Errors use protocol.error's shape through api.ApiError.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver import agents, auth, sites
from chatserver import hours as business_hours
from chatserver.agents import Agent
from chatserver.api import ApiError
from chatserver.i18n import N_
from chatserver.reports import forecast, history, metrics
from chatserver.runtime import Runtime
from chatserver.sites import Site
from chatserver.store import now_ms

DEFAULT_DAYS = 7
MAX_DAYS = 366
MAX_WEEKS = 26
NAMES = (*metrics.REPORTS, "forecast")


@dataclass(frozen=True)
class Range:
    first: dt.date
    last: dt.date
    start_ms: int
    end_ms: int


class ParameterError(ApiError):
    """A bad date range or figure: the API's English message, and a key for the console page."""

    def __init__(self, message: str, key: str, **values: object) -> None:
        super().__init__(400, "invalid_parameter", message)
        self.key = key
        self.values = values


def parse_range(site: Site, first: str | None, last: str | None, today: dt.date) -> Range:
    """Return the instants of a date range in the site's zone; raise ApiError on a bad one."""
    try:
        end_day = dt.date.fromisoformat(last) if last else today
        start_day = dt.date.fromisoformat(first) if first else end_day - dt.timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise ParameterError("from and to must be dates like 2026-11-30", N_("report_error_dates")) from None
    if start_day > end_day:
        raise ParameterError("from must not be after to", N_("report_error_order"))
    if (end_day - start_day).days >= MAX_DAYS:
        raise ParameterError(f"a report covers at most {MAX_DAYS} days", N_("report_error_range"),
                             max=MAX_DAYS)
    tz = business_hours.zone(site.settings.get("hours"))

    def midnight(day: dt.date) -> int:
        return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)

    return Range(start_day, end_day, midnight(start_day), midnight(end_day + dt.timedelta(days=1)))


def today(site: Site) -> dt.date:
    return dt.datetime.now(business_hours.zone(site.settings.get("hours"))).date()


async def admin_site(rt: Runtime, request: Request) -> tuple[Agent, Site]:
    """Return the signed-in admin and the site asked for; raise ApiError otherwise."""
    found = await agents.signed_in(rt.store, rt.signer, request.cookies.get(auth.SESSION_COOKIE))
    if found is None:
        raise ApiError(401, "unauthorized", "sign in first: no valid session cookie")
    agent = found[0]
    if agent.role != "admin":
        raise ApiError(403, "forbidden", "reports are for admins")
    site = await sites.by_key(rt.store, request.query_params.get("site", ""))
    if site is None or site.id not in await agents.site_ids(rt.store, agent):
        raise ApiError(404, "not_found", "no site with this key")
    return agent, site


def _number(raw: str | None, default: float, name: str, low: float, high: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ParameterError(f"{name} must be a number", N_("report_error_number"), name=name,
                             low=f"{low:g}", high=f"{high:g}") from None
    if not low <= value <= high:
        raise ParameterError(f"{name} must be from {low:g} to {high:g}", N_("report_error_number"),
                             name=name, low=f"{low:g}", high=f"{high:g}")
    return value


async def build(
    rt: Runtime, site: Site, name: str, params: dict[str, str]
) -> tuple[metrics.Table, dict[str, Any]]:
    """Return one report and the parameters it was computed for."""
    now = now_ms()
    if name == "forecast":
        weeks = int(_number(params.get("weeks"), forecast.DEFAULT_WEEKS, "weeks", 1, MAX_WEEKS))
        surge = _number(params.get("surge"), 0, "surge", 0, forecast.MAX_SURGE_PERCENT)
        inputs = await history.forecast_inputs(rt.store, site, weeks, now)
        return forecast.table(inputs, surge), {
            "weeks": weeks, "surge": surge, "handling_s": round(inputs.handling_s, 1),
            "concurrency": inputs.concurrency, "target_s": inputs.target_s, "goal": inputs.goal,
        }
    span = parse_range(site, params.get("from"), params.get("to"), today(site))
    found = await history.load(rt.store, site, span.start_ms, span.end_ms, now)
    return metrics.REPORTS[name](found), {"from": span.first.isoformat(), "to": span.last.isoformat()}


def as_json(site: Site, table: metrics.Table, params: dict[str, Any]) -> dict[str, Any]:
    return {"report": table.name, "site": site.public_key, **params,
            "columns": list(table.columns), "rows": [list(r) for r in table.rows]}


def as_csv(table: metrics.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        # A cell starting with = + - @ would run as a formula in a spreadsheet: a visitor's
        # question must stay text (OWASP's CSV injection advice).
        writer.writerow(["'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r")
                         else "" if v is None else v for v in row])
    return out.getvalue()


async def report(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    name = request.path_params["name"]
    if name not in NAMES:
        raise ApiError(404, "not_found", f"no report {name!r}; reports: {', '.join(NAMES)}")
    _, site = await admin_site(rt, request)
    table, params = await build(rt, site, name, dict(request.query_params))
    headers = {"Cache-Control": "no-store"}
    if request.query_params.get("format") == "csv":
        filename = f"{site.public_key}-{name}.csv"
        return Response(as_csv(table), media_type="text/csv; charset=utf-8", headers={
            **headers, "Content-Disposition": f'attachment; filename="{filename}"'})
    return JSONResponse(as_json(site, table, params), headers=headers)


def routes() -> list[Route]:
    return [Route("/api/v1/reports/{name}", report, methods=["GET"])]
