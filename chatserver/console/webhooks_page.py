"""A site's webhooks in the console: add (the secret shown once), test, pause, delete; the
allow-list of private networks; dead letters and their replay. The same work as the JSON API
(webhooks/api.py), as forms."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chatserver import sites
from chatserver.console import pages
from chatserver.console.admin import admins_only
from chatserver.console.pages import FormRefused, Viewer
from chatserver.i18n import N_
from chatserver.webhooks import events, guard, outbox, signing, subscriptions

log = logging.getLogger("chatserver.console")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def _page(
    request: Request, who: Viewer, site: sites.Site, *, status: int = 200, **context: Any
) -> Response:
    store = pages.runtime(request).store
    dead = [{**d, "when": _when(d["created_at"])} for d in await outbox.dead_letters(store, site.id)]
    return pages.render(
        request, "admin_webhooks.html", who, status=status, site=site, names=events.NAMES,
        hooks=await subscriptions.of_site(store, site.id), dead=dead,
        allow="\n".join(str(n) for n in await subscriptions.allow_list(store, site.id)),
        notice=request.query_params.get("done"), **{"error": None, "secret": None, "url": "", **context},
    )


async def _site(request: Request, who: Viewer) -> sites.Site | Response:
    site = await sites.by_id(pages.runtime(request).store, request.path_params["site_id"])
    if site is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_site"))
    return site


def _back(site: sites.Site, done: str) -> Response:
    return RedirectResponse(f"/console/admin/sites/{site.id}/webhooks?done={done}", status_code=303)


def _forget(request: Request, site: sites.Site) -> None:
    rt = pages.runtime(request)
    if rt.webhooks is not None:
        rt.webhooks.recorder.forget(site.id)
        rt.webhooks.worker.wake()


@admins_only
async def webhooks_page(request: Request, who: Viewer) -> Response:
    site = await _site(request, who)
    if isinstance(site, Response):
        return site
    return await _page(request, who, site)


@admins_only
async def webhooks_post(request: Request, who: Viewer) -> Response:
    """One endpoint for the page's forms, told apart by their `action`."""
    site = await _site(request, who)
    if isinstance(site, Response):
        return site
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    rt = pages.runtime(request)
    action, hook_id = fields.get("action", ""), fields.get("webhook", "")
    if action == "add":
        names = [name for name in events.NAMES if fields.get(f"event_{name}")]
        try:
            if not names:
                raise guard.Refused("choose at least one event")
            url = await subscriptions.check_url(rt.store, rt.settings.webhooks.allow, site.id,
                                                fields.get("url", ""))
            secret = signing.new_secret()
            made = await subscriptions.create(rt.store, site.id, url, names, secret)
        except ValueError as bad:  # guard.Refused too: nothing is stored, the form comes back
            return await _page(request, who, site, status=400, error=str(bad), url=fields.get("url", ""))
        log.info("event=webhook_added site=%s webhook=%s by=%s", site.id, made.id, who.agent.id)
        _forget(request, site)
        return await _page(request, who, site, secret=secret)
    if action == "allow":
        try:
            await subscriptions.set_allow_list(rt.store, site.id, fields.get("networks", "").split())
        except guard.Refused as bad:
            return await _page(request, who, site, status=400, error=str(bad))
        return _back(site, "allow")
    if action == "replay":
        await outbox.replay(rt.store, site.id)
        _forget(request, site)
        return _back(site, "replayed")
    found = await subscriptions.get(rt.store, site.id, hook_id)
    if found is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_webhook"))
    if action == "test":
        await outbox.ping(rt.store, site.id, site.public_key, found.id)
    elif action in ("pause", "resume"):
        await subscriptions.set_enabled(rt.store, site.id, found.id, action == "resume")
    elif action == "delete":
        await subscriptions.remove(rt.store, site.id, found.id)
    else:
        return pages.refused(request, who, FormRefused(400, N_("error_bad_form")))
    _forget(request, site)
    return _back(site, action)
