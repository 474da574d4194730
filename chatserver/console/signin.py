"""Signing in and out of the console: the form, the throttles, a fresh session each time."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chatserver import auth, lockout
from chatserver.console import pages
from chatserver.console.pages import FormRefused
from chatserver.i18n import N_
from chatserver.store import now_ms

log = logging.getLogger("chatserver.console")


def _next(target: str | None) -> str:
    """Return where to go after signing in: a console path, never another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


async def signin_page(request: Request) -> Response:
    if await pages.viewer(request):
        return RedirectResponse(_next(request.query_params.get("next")), status_code=303)
    return pages.render(
        request, "signin.html", None, email="", error=None, next=_next(request.query_params.get("next")),
        changed=request.query_params.get("changed") == "1",
    )


async def signin(request: Request) -> Response:
    """Check the email and password; answer the same for unknown and known addresses."""
    rt = pages.runtime(request)
    try:
        fields = await pages.form(request, None)
    except FormRefused as refused:
        return pages.refused(request, None, refused)
    email = fields.get("email", "").strip()[:320]
    password = fields.get("password", "")[:1024]
    target = _next(fields.get("next"))

    def again(error: str, status: int, **values: int) -> Response:
        return pages.render(
            request, "signin.html", None, status=status, email=email, next=target,
            error=(error, values),
        )

    # The JSON API shares these throttles (lockout.py): per address and network, per network.
    host = request.client.host if request.client else None
    outcome = await lockout.sign_in(rt.store, email, password, host)
    if isinstance(outcome, lockout.Lock):
        log.info("event=login_throttled via=console")
        return again("signin_locked", 429, num=outcome.minutes_left(now_ms()))
    if outcome is None:
        log.info("event=login_failed via=console")
        return again(N_("signin_wrong"), 401)
    agent = outcome
    # A new session id at every sign-in: a session id planted before it (fixation) is worthless.
    old = request.cookies.get(auth.SESSION_COOKIE)
    old_id = rt.signer.session_id(old) if old else None
    if old_id:
        await auth.close_session(rt.store, old_id)
    session_id = await auth.open_session(rt.store, agent.id)
    log.info("event=login agent=%s via=console", agent.id)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.SESSION_COOKIE, rt.signer.session_cookie(session_id),
        max_age=auth.SESSION_MAX_AGE_SECONDS, httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )
    # Forms rendered before signing in carry tokens for no session; start a fresh pair.
    pages.set_nonce(request, response, pages.new_nonce())
    return response


async def signout(request: Request) -> Response:
    rt = pages.runtime(request)
    who = await pages.viewer(request)
    if who is None:
        return RedirectResponse("/console/signin", status_code=303)
    try:
        await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    await auth.close_session(rt.store, who.session_id)
    log.info("event=logout agent=%s", who.agent.id)
    response = RedirectResponse("/console/signin", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response
