"""The HTTP JSON API: health, visitor tokens, agent sign-in. Errors use protocol.error's shape."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatserver import (
    __version__,
    agents,
    auth,
    customers,
    health,
    identity,
    lockout,
    protocol,
    site_settings,
    sites,
    visitor_status,
)
from chatserver.runtime import Runtime
from chatserver.store import now_ms

log = logging.getLogger("chatserver.api")

# Every API body is a handful of short fields; anything larger is a mistake or an attack.
MAX_BODY_BYTES = 16 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(protocol.error(code, message), status_code=status, headers=headers)


async def json_body(request: Request) -> dict[str, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    return data


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def healthz(request: Request) -> Response:
    """200 while this process can take visitors' writes; 503 with the reason when not."""
    rt = _runtime(request)
    problem = await health.store_writable(rt.store)
    return JSONResponse(
        {
            "status": "ok" if problem is None else "not_ready",
            "version": __version__,
            "store": "sqlite" if rt.store.is_sqlite else "postgresql",
            "broker": rt.settings.broker_url.split(":", 1)[0],
            **({"reason": problem} if problem else {}),
        },
        status_code=200 if problem is None else 503,
    )


def _cors(request: Request) -> dict[str, str]:
    """Let the page's origin read our answer, refusals included, so a widget can say why.

    Reading is all CORS grants; whether the origin may use the site is decided below, per
    request, and a refused request changes nothing.
    """
    origin = request.headers.get("origin")
    if not origin:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


async def _site(request: Request) -> sites.Site:
    site = await sites.by_key(_runtime(request).store, request.path_params["key"])
    if site is None:
        raise ApiError(404, "not_found", "no site with this key")
    return site


WidgetHandler = Callable[[Request, Runtime, sites.Site], Awaitable[Response]]


def widget_endpoint(handler: WidgetHandler) -> Callable[[Request], Awaitable[Response]]:
    """Serve an endpoint that the widget calls from a site's pages, at /api/v1/sites/{key}/...

    Every answer, refusals included, carries CORS headers; the site comes from the key and
    the page's origin must be one the site allows.
    """

    async def endpoint(request: Request) -> Response:
        headers = _cors(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=headers)
        try:
            site = await _site(request)
            origin, host = request.headers.get("origin"), request.headers.get("host")
            if not sites.origin_allowed(site, origin, host):
                raise ApiError(403, "forbidden", "this origin is not allowed for the site")
            response = await handler(request, _runtime(request), site)
        except ApiError as refused:
            return error_response(refused.status, refused.code, refused.message, headers)
        response.headers.update(headers)
        return response

    return endpoint


async def _issue_token(request: Request, rt: Runtime, site: sites.Site) -> Response:
    """Issue a visitor token for a site: a new visitor, or a renewal of a valid token."""
    body = await json_body(request)
    details = _details(body, request)
    previous = body.get("token")
    known = rt.signer.visitor(previous) if isinstance(previous, str) else None
    contact_id = known.contact_id if known and known.site_id == site.id else None
    if contact_id and not await customers.belongs(rt.store, contact_id, site.id):
        contact_id = None
    verified = False
    if body.get("identity") is not None:
        contact_id, verified = await _identify(rt, site, contact_id, body["identity"], details)
    if contact_id is None:
        contact_id = await customers.create(rt.store, site.id)
        log.info("event=visitor_created site=%s contact=%s", site.id, contact_id)
    await customers.describe(rt.store, contact_id, **details)
    visitor = auth.VisitorIdentity(site.id, contact_id)
    return JSONResponse(
        {
            "token": rt.signer.visitor_token(visitor),
            "visitor": {"id": contact_id, "verified": verified},
            "site": {"name": site.name, "settings": site_settings.public(site.settings)},
            # agents_online, open_now (business hours) and next_change_in (seconds).
            **await visitor_status.availability(rt.store, site),
        },
    )


def _one_line(value: Any, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\n" in value or "\r" in value:
        raise ApiError(400, "invalid_message", f"{what} must be one line of at most {limit} characters")
    return value.strip() or None


def _details(body: dict[str, Any], request: Request) -> dict[str, Any]:
    """Read what the widget says about the visitor and their page; refuse anything odd."""
    profile = body.get("profile") or {}
    page = body.get("page") or {}
    if not isinstance(profile, dict) or not isinstance(page, dict):
        raise ApiError(400, "invalid_message", "'profile' and 'page' must be objects")
    email = _one_line(profile.get("email"), "profile.email", 320)
    if email:
        try:
            email = agents.check_email(email)
        except ValueError as problem:
            raise ApiError(400, "invalid_message", str(problem)) from None
    url = _one_line(page.get("url"), "page.url", 2000)
    if url and not url.startswith(("https://", "http://")):
        raise ApiError(400, "invalid_message", "page.url must be an http(s) address")
    locale = _one_line(body.get("locale"), "locale", 16)
    return {
        "name": _one_line(profile.get("name"), "profile.name", 200),
        "email": email,
        "locale": locale.split("-")[0].lower()[:8] if locale else None,
        "page_url": url,
        "page_title": _one_line(page.get("title"), "page.title", 300),
        "referrer": _one_line(page.get("referrer"), "page.referrer", 2000),
        "user_agent": (request.headers.get("user-agent") or "")[:500] or None,
        "last_seen_at": now_ms(),
        # The browser's IANA zone (Intl.DateTimeFormat().resolvedOptions().timeZone), if sent.
        "timezone": customers.known_timezone(body.get("timezone")),
    }


async def _identify(
    rt: Runtime, site: sites.Site, contact_id: str | None, data: Any, details: dict[str, Any]
) -> tuple[str | None, bool]:
    """Join the verified user's contact, or keep the visitor anonymous with what they claimed."""
    try:
        claim = identity.parse(data)
    except identity.IdentityError as problem:
        raise ApiError(400, "invalid_message", str(problem)) from None
    secret = await site_settings.identity_secret(rt.store, site.id)
    try:
        if secret is None:
            raise identity.IdentityError("this site has no identity secret yet")
        identity.verify(secret, claim)
    except identity.IdentityError as problem:
        if secret is not None and (await site_settings.identity(rt.store, site.id)).enforced:
            log.info("event=identity_refused site=%s", site.id)
            raise ApiError(403, "forbidden", str(problem)) from None
        # Unverified: the claim describes this anonymous visitor and nobody else.
        details.update(name=details["name"] or claim.name, email=details["email"] or claim.email)
        return contact_id, False
    joined = await customers.identified(
        rt.store, site.id, contact_id, claim.user_id, claim.name, claim.email
    )
    log.info("event=identity_verified site=%s contact=%s", site.id, joined)
    return joined, True


async def login(request: Request) -> Response:
    rt = _runtime(request)
    body = await json_body(request)
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        raise ApiError(400, "invalid_message", "'email' and 'password' are required")
    # The console's sign-in form and this API share one lockout per address (lockout.py).
    lock = await lockout.locked(rt.store, email)
    agent = None if lock else await agents.authenticate(rt.store, email, password)
    if agent is None:
        log.info("event=login_failed")
        lock = lock or await lockout.failed(rt.store, email)
        if lock:
            raise ApiError(
                429, "too_many_attempts",
                f"too many failed sign-ins; try again in {lock.minutes_left(now_ms())} minutes",
            )
        raise ApiError(401, "unauthorized", "wrong email or password")
    await lockout.succeeded(rt.store, email)
    session_id = await auth.open_session(rt.store, agent.id)
    log.info("event=login agent=%s", agent.id)
    response = JSONResponse({"agent": {"id": agent.id, "name": agent.name, "role": agent.role}})
    response.set_cookie(
        auth.SESSION_COOKIE, rt.signer.session_cookie(session_id),
        max_age=auth.SESSION_MAX_AGE_SECONDS, httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    rt = _runtime(request)
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    session_id = rt.signer.session_id(cookie) if cookie else None
    if session_id:
        await auth.close_session(rt.store, session_id)
    response = Response(status_code=204)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


visitors = widget_endpoint(_issue_token)
