"""The signed-in agent's own account: display name and password, for admins and agents alike.

A new password signs the agent out everywhere (sessions, sockets, chats back to the queue) as
an admin's reset does, then asks them to sign in with it: whoever knew the old one is out.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chatserver import agents
from chatserver.console import admin, pages
from chatserver.console.pages import FormRefused, Viewer
from chatserver.i18n import N_

log = logging.getLogger("chatserver.console")

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024


def check_new_password(new: str, again: str) -> str | None:
    """Return the key of what is wrong with a new password and its repeat, or None."""
    if len(new) < MIN_PASSWORD_CHARS:
        return N_("account_password_short")
    if len(new) > MAX_PASSWORD_CHARS:
        return N_("account_password_long")
    if new != again:
        return N_("account_password_mismatch")
    return None


def _page(request: Request, who: Viewer, *, status: int = 200, error: str | None = None,
          saved: bool = False, name: str | None = None) -> Response:
    return pages.render(request, "account.html", who, status=status, error=error, saved=saved,
                        name=who.agent.name if name is None else name,
                        min_chars=MIN_PASSWORD_CHARS)


async def account_page(request: Request) -> Response:
    who = await pages.viewer(request)
    if who is None:
        return pages.to_signin(request)
    return _page(request, who, saved=request.query_params.get("saved") == "1")


async def account_save(request: Request) -> Response:
    """Save the display name, or change the password after checking the current one."""
    who = await pages.viewer(request)
    if who is None:
        return pages.to_signin(request)
    rt = pages.runtime(request)
    try:
        fields = await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    if fields.get("action") == "password":
        current = fields.get("current", "")[:MAX_PASSWORD_CHARS]
        if await agents.authenticate(rt.store, who.agent.email, current) is None:
            return _page(request, who, status=400, error=N_("account_password_wrong"))
        problem = check_new_password(fields.get("new", ""), fields.get("again", ""))
        if problem:
            return _page(request, who, status=400, error=problem)
        await agents.change(rt.store, who.agent.id, password=fields["new"])
        await admin.revoke(rt, who.agent.id)
        log.info("event=agent_own_password agent=%s", who.agent.id)
        return RedirectResponse("/console/signin?changed=1", status_code=303)
    name = fields.get("name", "")
    try:
        await agents.change(rt.store, who.agent.id, name=name)
    except ValueError:
        return _page(request, who, status=400, error=N_("account_name_bad"), name=name)
    log.info("event=agent_own_name agent=%s", who.agent.id)
    return RedirectResponse("/console/account?saved=1", status_code=303)

