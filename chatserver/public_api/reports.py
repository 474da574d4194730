"""Reports: the console's figures (reports/), as JSON for the site's own dashboards.

Admin tokens only, as in the console: the reports show every agent's figures.
"""

from __future__ import annotations

from typing import Any

from chatserver.api import ApiError
from chatserver.public_api.operations import Call, Operation, Param
from chatserver.public_api.shapes import obj, string
from chatserver.reports import api as reports

TAG = "reports"
REPORT = obj({"report": string(40), "site": string(64), "columns": {"type": "array", "items": string(100)},
              "rows": {"type": "array", "items": {"type": "array"}}},
             ("report", "columns", "rows"), closed=False)


async def list_reports(call: Call) -> dict[str, Any]:
    return {"reports": list(reports.NAMES)}


async def read_report(call: Call) -> dict[str, Any]:
    name = call.path["name"]
    if name not in reports.NAMES:
        raise ApiError(404, "not_found", f"no report {name[:40]!r}; reports: {', '.join(reports.NAMES)}")
    params = {k: str(v) for k, v in call.query.items()}
    table, used = await reports.build(call.rt, call.site, name, params)
    return reports.as_json(call.site, table, used)


OPERATIONS = [
    Operation("GET", "/reports", "List the reports", TAG, "admin", list_reports,
              obj({"reports": {"type": "array", "items": string(40)}})),
    Operation("GET", "/reports/{name}", "One report as columns and rows", TAG, "admin", read_report,
              REPORT, query=(
                  Param("from", string(10),
                        "first day, YYYY-MM-DD in the site's time zone (default: 7 days ago)"),
                  Param("to", string(10), "last day, inclusive (default: today)"),
                  Param("weeks", {"type": "integer", "minimum": 1, "maximum": reports.MAX_WEEKS},
                        "forecast only: weeks of history"),
                  Param("surge", {"type": "number", "minimum": 0}, "forecast only: expected surge, percent"),
              ), description=f"Reports: {', '.join(reports.NAMES)}."),
]
