"""Proactive rules and the staffing schedule of a site, edited in the console: the same
checks as `chatserver proactive` and `chatserver forecast --schedule`, as forms. A form that
is refused comes back with what was typed and the reason; nothing stored changes."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from chatserver import proactive, sites
from chatserver.console import pages
from chatserver.console.admin import admins_only
from chatserver.console.pages import FormRefused, Viewer
from chatserver.i18n import N_
from chatserver.reports import staffing

log = logging.getLogger("chatserver.console")
PATH = "/console/admin/proactive"
TRIGGER_LABELS = {"time": N_("proactive_trigger_time"), "url": N_("proactive_trigger_url"),
                  "event": N_("proactive_trigger_event")}


async def _page(
    request: Request, who: Viewer, site: sites.Site | None, *, status: int = 200, **context: Any
) -> Response:
    store = pages.runtime(request).store
    every = await sites.all_sites(store)
    shown = site or (every[0] if every else None)
    rules = await proactive.rules(store, shown.id) if shown else []
    schedule = "\n".join(staffing.lines(await staffing.read(store, shown.id))) if shown else ""
    values = {"error": None, "error_rule": None, "draft": {}, "schedule": schedule,
              "done": request.query_params.get("done"), **context}
    return pages.render(request, "admin_proactive.html", who, status=status, sites=every, site=shown,
                        rules=rules, triggers=TRIGGER_LABELS, max_cap=proactive.MAX_CAP, **values)


@admins_only
async def proactive_page(request: Request, who: Viewer) -> Response:
    """GET: a site's rules (each an editable row), a form for a new one, the schedule."""
    key = request.query_params.get("site")
    site = await sites.by_id(pages.runtime(request).store, key) if key else None
    if key and site is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_site"))
    return await _page(request, who, site)


def _rule_fields(fields: dict[str, str]) -> tuple[str, str, str, str, int]:
    cap = fields.get("cap", "").strip()
    if not cap.isdigit():
        raise proactive.RuleError(f"the cap must be from 1 to {proactive.MAX_CAP} shows per visitor")
    return (fields.get("name", ""), fields.get("trigger", ""), fields.get("value", ""),
            fields.get("message", ""), int(cap))


@admins_only
async def proactive_post(request: Request, who: Viewer) -> Response:
    """One endpoint for the page's forms, told apart by their `action`."""
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    store = pages.runtime(request).store
    site = await sites.by_id(store, fields.get("site", ""))
    if site is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_site"))
    action, rule_id = fields.get("action", ""), fields.get("rule", "")
    try:
        if action == "add":
            rule = await proactive.add(store, site.id, *_rule_fields(fields))
        elif action == "save":
            rule = await proactive.change(store, site.id, rule_id, *_rule_fields(fields),
                                          enabled=fields.get("enabled") == "on")
        elif action == "schedule":
            await staffing.replace(store, site.id, staffing.parse(
                [line for line in fields.get("schedule", "").splitlines() if line.strip()]))
            log.info("event=schedule_saved site=%s by=%s", site.id, who.agent.id)
            return RedirectResponse(f"{PATH}?site={site.id}&done=schedule", status_code=303)
        else:
            return pages.refused(request, who, FormRefused(400, N_("error_bad_form")))
    except LookupError:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_rule"))
    except ValueError as bad:  # RuleError too: the form comes back as typed
        kept = {"schedule": fields.get("schedule", "")} if action == "schedule" else {}
        return await _page(request, who, site, status=400, error=str(bad), error_rule=rule_id or action,
                           draft=fields, **kept)
    log.info("event=proactive_rule_%s site=%s rule=%s by=%s", action, site.id, rule.id, who.agent.id)
    return RedirectResponse(f"{PATH}?site={site.id}&done={action}", status_code=303)


def routes() -> list[Route]:
    return [
        Route(PATH, proactive_page, methods=["GET"]),
        Route(PATH, proactive_post, methods=["POST"]),
    ]
