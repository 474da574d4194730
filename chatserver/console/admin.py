"""Admin pages: sites (settings, identity, snippet, API tokens), agents, canned replies.

Revoking an agent (disabled, or a new password) deletes their sessions, closes their
open sockets on every process through the hub and hands their chats back to the queue.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chatserver import agents, auth, site_settings, sites
from chatserver.chat import queue
from chatserver.console import canned, pages
from chatserver.console.pages import FormRefused, Viewer
from chatserver.i18n import N_
from chatserver.public_api import tokens
from chatserver.runtime import Runtime
from chatserver.site_settings import SettingsError

log = logging.getLogger("chatserver.console")

Page = Callable[[Request, Viewer], Awaitable[Response]]


def admins_only(page: Page) -> Callable[[Request], Awaitable[Response]]:
    """Let only signed-in admins reach the page."""

    async def guarded(request: Request) -> Response:
        who = await pages.viewer(request)
        if who is None:
            return pages.to_signin(request)
        if not who.is_admin:
            return pages.forbidden(request, who)
        return await page(request, who)

    return guarded


async def revoke(rt: Runtime, agent_id: str) -> None:
    """Sign the agent out everywhere and hand their chats to the others.

    Their sessions end now, their open sockets close on every process, and the chats they
    held go back to the queue (told to everyone): nobody waits on an agent who must sign in
    again first. Their presence goes before the sockets close, so routing cannot hand the
    chats straight back to them.
    """
    await auth.close_agent_sessions(rt.store, agent_id)
    await agents.forget_presence(rt.store, agent_id)
    await rt.hub.revoke(agent_id)
    log.info("event=agent_revoked agent=%s", agent_id)
    await rt.hub.deliver(await queue.release(rt.store, agent_id))


# Sites --------------------------------------------------------------------------------------


def snippet(request: Request, site: sites.Site) -> str:
    base = str(request.base_url).rstrip("/")
    return f'<script async src="{base}/widget.js" data-site="{site.public_key}"></script>'


def _site_form(site: sites.Site) -> dict[str, str]:
    """Return the admin form's fields for a site's stored settings."""
    s = site_settings.with_defaults(site.settings)
    sla = s["sla"]
    hours = s["hours"] or {}
    days = hours.get("days", {})
    form = {
        "name": site.name, "origins": "\n".join(site.allowed_origins), "color": s["color"],
        "greeting": s["greeting"], "locale": s["locale"], "position": s["position"],
        "prechat": s["prechat"], "hours_enabled": "on" if hours else "",
        "support_email": s.get("support_email") or "",
        "tickets_from_new_senders": "on" if s.get("tickets_from_new_senders") else "",
        "timezone": hours.get("timezone", "Europe/Amsterdam"),
        "sla_chat_first_response": str(sla["chat_first_response_seconds"] // 60),
        "sla_chat_resolution": str(sla["chat_resolution_seconds"] // 60),
        "sla_ticket_first_response": str(sla["ticket_first_response_seconds"] // 3600),
        "sla_ticket_resolution": str(sla["ticket_resolution_seconds"] // 3600),
    }
    form["channels_listed"] = ",".join(s["channels"])
    form.update({f"channel:{name}": "on" if on else "" for name, on in s["channels"].items()})
    for day in site_settings.DAYS:
        start, end = days.get(day, ("09:00", "17:00"))
        workday = day not in ("sat", "sun")
        form[f"{day}_open"] = "on" if day in days or (not hours and workday) else ""
        form[f"{day}_start"], form[f"{day}_end"] = start, end
    return form


@admins_only
async def site_list(request: Request, who: Viewer) -> Response:
    listed = await sites.all_sites(pages.runtime(request).store)
    return pages.render(request, "admin_sites.html", who, sites=listed, error=None, name="")


@admins_only
async def site_add(request: Request, who: Viewer) -> Response:
    rt = pages.runtime(request)
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    try:
        name = site_settings.check_name(fields.get("name", ""))
        origins = site_settings.check_origins(fields.get("origins", ""))
    except SettingsError as bad:
        listed = await sites.all_sites(rt.store)
        return pages.render(request, "admin_sites.html", who, status=400, sites=listed,
                            error=str(bad), name=fields.get("name", ""))
    site = await sites.create(rt.store, name, origins)
    log.info("event=site_created site=%s by=%s", site.id, who.agent.id)
    return RedirectResponse(f"/console/admin/sites/{site.id}?created=1", status_code=303)


async def _site_page(
    request: Request, who: Viewer, site: sites.Site, *, form: dict[str, str] | None = None,
    error: SettingsError | None = None, secret: str | None = None, saved: bool = False,
    api_secret: str | None = None, api_error: str | None = None,
) -> Response:
    identity = await site_settings.identity(pages.runtime(request).store, site.id)
    return pages.render(
        request, "admin_site.html", who, status=400 if error or api_error else 200, site=site,
        f=form or _site_form(site), error=error, identity=identity, secret=secret, saved=saved,
        snippet=snippet(request, site), days=site_settings.DAYS,
        form_url=f"{str(request.base_url).rstrip('/')}/form/{site.public_key}",
        created=request.query_params.get("created") == "1",
        api_tokens=[{**t.public(), "created": _utc(t.created_at), "used": _utc(t.last_used_at)}
                    for t in await tokens.of_site(pages.runtime(request).store, site.id)],
        api_secret=api_secret, api_error=api_error,
    )


def _utc(ms: int | None) -> str | None:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ms else None


async def _site(request: Request) -> sites.Site | None:
    return await sites.by_id(pages.runtime(request).store, request.path_params["site_id"])


@admins_only
async def site_edit(request: Request, who: Viewer) -> Response:
    site = await _site(request)
    if site is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_site"))
    return await _site_page(request, who, site, saved=request.query_params.get("saved") == "1")


@admins_only
async def site_save(request: Request, who: Viewer) -> Response:
    rt = pages.runtime(request)
    site = await _site(request)
    if site is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_site"))
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    try:
        name = site_settings.check_name(fields.get("name", ""))
        origins = site_settings.check_origins(fields.get("origins", ""))
        # The form does not show the limits (set with `chatserver limits`): they are kept.
        settings = {**site_settings.check(fields), **site_settings.kept(site.settings)}
    except SettingsError as bad:
        # Nothing is stored; the form comes back with what was typed and the field named.
        return await _site_page(request, who, site, form={**_site_form(site), **fields}, error=bad)
    await site_settings.save(rt.store, site.id, name, origins, settings)
    log.info("event=site_saved site=%s by=%s", site.id, who.agent.id)
    return RedirectResponse(f"/console/admin/sites/{site.id}?saved=1", status_code=303)


@admins_only
async def site_identity(request: Request, who: Viewer) -> Response:
    rt = pages.runtime(request)
    site = await _site(request)
    if site is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_site"))
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    secret = await site_settings.set_identity(
        rt.store, site.id, enforced=fields.get("enforced") == "on",
        new_secret=fields.get("action") == "new_secret",
    )
    log.info("event=site_identity site=%s new_secret=%s by=%s", site.id, bool(secret), who.agent.id)
    # A new secret is shown on this answer only; it is never displayed again.
    return await _site_page(request, who, site, secret=secret, saved=secret is None)


@admins_only
async def api_token_create(request: Request, who: Viewer) -> Response:
    """Make an API token for the site; its secret is on this answer only, never again."""
    site = await _site(request)
    if site is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_site"))
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    try:
        token, secret = await tokens.create(pages.runtime(request).store, site.id, fields.get("name", ""),
                                            [fields.get("scope", "")], who.agent.email)
    except tokens.TokenError as bad:
        return await _site_page(request, who, site, api_error=str(bad))
    log.info("event=api_token_created site=%s token=%s by=%s", site.id, token.id, who.agent.id)
    return await _site_page(request, who, site, api_secret=secret)


@admins_only
async def api_token_revoke(request: Request, who: Viewer) -> Response:
    site = await _site(request)
    if site is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_site"))
    try:
        await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    if await tokens.revoke(pages.runtime(request).store, site.id, request.path_params["token_id"]):
        log.info("event=api_token_revoked site=%s token=%s by=%s", site.id,
                 request.path_params["token_id"], who.agent.id)
    return RedirectResponse(f"/console/admin/sites/{site.id}?saved=1#api-tokens", status_code=303)


# Agents -------------------------------------------------------------------------------------


# The add-agent form's fields, as an empty form shows them.
_NEW_AGENT = {"email": "", "name": "", "role": "agent", "max_chats": str(agents.DEFAULT_MAX_CHATS)}


async def _agents_page(
    request: Request, who: Viewer, *, status: int = 200, error: str | None = None,
    notice: tuple[str, dict[str, Any]] | None = None, password: tuple[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    store = pages.runtime(request).store
    listed = await agents.all_agents(store)
    return pages.render(
        request, "admin_agents.html", who, status=status, agents=listed, error=error,
        notice=notice, password=password, roles=agents.ROLES, f=form or _NEW_AGENT,
        sites=await sites.all_sites(store),
        serving={a.id: set(await agents.member_sites(store, a.id)) for a in listed},
    )


@admins_only
async def agent_list(request: Request, who: Viewer) -> Response:
    return await _agents_page(request, who)


def _cap(raw: str | None, default: int) -> int:
    """Read the max-chats field; a form that leaves it out or blank keeps the default."""
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit() or len(raw.strip()) > 2:
        raise ValueError("max chats must be a whole number from 1 to 50")
    return int(raw)


@admins_only
async def agent_add(request: Request, who: Viewer) -> Response:
    rt = pages.runtime(request)
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    password = fields.get("password", "") or auth.new_password()
    try:
        role = fields.get("role", "agent")
        if role not in agents.ROLES:
            raise ValueError(f"role must be one of {', '.join(agents.ROLES)}")
        created = await agents.create(
            rt.store, fields.get("email", ""), fields.get("name", ""), password,
            role=role, max_chats=_cap(fields.get("max_chats"), agents.DEFAULT_MAX_CHATS),
        )
    except ValueError as bad:
        # The form comes back as typed; a field left out comes back empty or as its default.
        form = {**_NEW_AGENT, **{k: v for k, v in fields.items() if k in _NEW_AGENT}}
        return await _agents_page(request, who, status=400, error=str(bad), form=form)
    log.info("event=agent_created agent=%s by=%s", created.id, who.agent.id)
    shown = password if not fields.get("password") else None
    return await _agents_page(
        request, who, notice=(N_("agent_added"), {"name": created.name}),
        password=(created.email, shown) if shown else None,
    )


@admins_only
async def agent_change(request: Request, who: Viewer) -> Response:
    """Apply one action to an agent: save name, role, cap and sites; disable, enable, or a new password."""
    rt = pages.runtime(request)
    target = await agents.by_id(rt.store, request.path_params["agent_id"])
    if target is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_agent"))
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    action = fields.get("action")
    myself = target.id == who.agent.id
    try:
        if action == "save":
            role = fields.get("role", target.role)
            if myself and role != "admin":
                raise ValueError("you cannot take away your own admin role")
            if role not in agents.ROLES:
                raise ValueError(f"role must be one of {', '.join(agents.ROLES)}")
            # Sites come as site:<id>=on checkboxes; a form without the list keeps them as they are.
            chosen = ([key.removeprefix("site:") for key, on in fields.items()
                       if key.startswith("site:") and on == "on"]
                      if fields.get("sites_listed") == "1" else None)
            name = fields.get("name", target.name)
            before = set(await agents.member_sites(rt.store, target.id))
            await agents.change(rt.store, target.id, role=role, name=name, site_ids=chosen,
                                max_chats=_cap(fields.get("max_chats"), target.max_chats))
            if chosen is not None and not before <= set(chosen):
                # A socket knows its sites from its hello: closed, it comes back without the
                # sites taken away (the session stays, so the console just reconnects).
                await rt.hub.revoke(target.id)
            notice = (N_("agent_saved"), {"name": name.strip()})
        elif action == "disable":
            if myself:
                raise ValueError("you cannot disable yourself")
            await agents.change(rt.store, target.id, disabled=True)
            await revoke(rt, target.id)
            notice = (N_("agent_disabled"), {"name": target.name})
        elif action == "enable":
            await agents.change(rt.store, target.id, disabled=False)
            notice = (N_("agent_enabled"), {"name": target.name})
        elif action == "password":
            password = auth.new_password()
            await agents.change(rt.store, target.id, password=password)
            await revoke(rt, target.id)
            log.info("event=agent_password agent=%s by=%s", target.id, who.agent.id)
            if myself:
                return RedirectResponse("/console/signin", status_code=303)
            return await _agents_page(
                request, who, notice=(N_("agent_password"), {"name": target.name}),
                password=(target.email, password),
            )
        else:
            raise ValueError("unknown action")
    except ValueError as bad:
        return await _agents_page(request, who, status=400, error=str(bad))
    log.info("event=agent_%s agent=%s by=%s", action, target.id, who.agent.id)
    return await _agents_page(request, who, notice=notice)


# Canned responses ---------------------------------------------------------------------------


async def _canned_page(
    request: Request, who: Viewer, *, status: int = 200, error: str | None = None,
    form: dict[str, str] | None = None, editing: str | None = None,
    edit_form: dict[str, str] | None = None,
) -> Response:
    store = pages.runtime(request).store
    listed = await sites.all_sites(store)
    replies = await canned.for_sites(store, [s.id for s in listed])
    return pages.render(
        request, "admin_canned.html", who, status=status, sites=listed, replies=replies,
        names={s.id: s.name for s in listed}, error=error if editing is None else None,
        f=form or {"site": listed[0].id if listed else "", "shortcut": "", "body": ""},
        editing=editing, edit_error=error if editing else None, edit_form=edit_form or {},
        saved=request.query_params.get("saved"),
    )


@admins_only
async def canned_list(request: Request, who: Viewer) -> Response:
    return await _canned_page(request, who)


@admins_only
async def canned_add(request: Request, who: Viewer) -> Response:
    rt = pages.runtime(request)
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    if await sites.by_id(rt.store, fields.get("site", "")) is None:
        return await _canned_page(request, who, status=400, error="pick a site", form=fields)
    try:
        await canned.add(rt.store, fields["site"], fields.get("shortcut", ""), fields.get("body", ""))
    except ValueError as bad:
        return await _canned_page(request, who, status=400, error=str(bad), form=fields)
    await rt.hub.deliver(await canned.told(rt.store, fields["site"]))
    return RedirectResponse("/console/admin/canned", status_code=303)


@admins_only
async def canned_save(request: Request, who: Viewer) -> Response:
    """Change a reply's shortcut and text; open consoles of its site get the new list."""
    rt = pages.runtime(request)
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    canned_id = request.path_params["canned_id"]
    try:
        changed = await canned.change(rt.store, canned_id, fields.get("shortcut", ""),
                                      fields.get("body", ""))
    except ValueError as bad:
        return await _canned_page(request, who, status=400, error=str(bad), editing=canned_id,
                                  edit_form=fields)
    if changed is None:
        return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_canned"))
    log.info("event=canned_changed canned=%s by=%s", canned_id, who.agent.id)
    await rt.hub.deliver(await canned.told(rt.store, changed.site_id))
    return RedirectResponse(f"/console/admin/canned?saved={canned_id}", status_code=303)


@admins_only
async def canned_delete(request: Request, who: Viewer) -> Response:
    rt = pages.runtime(request)
    try:
        await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    gone = await canned.by_id(rt.store, request.path_params["canned_id"])
    if gone is not None:
        await canned.remove(rt.store, gone.id)
        await rt.hub.deliver(await canned.told(rt.store, gone.site_id))
    return RedirectResponse("/console/admin/canned", status_code=303)
