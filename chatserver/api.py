"""The HTTP JSON API: health, visitor tokens, agent sign-in. Errors use protocol.error's shape."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from chatserver import (
    __version__,
    agents,
    auth,
    customers,
    health,
    identity,
    json_input,
    lockout,
    metrics,
    protocol,
    site_settings,
    sites,
    visitor_status,
)
from chatserver.chat.effects import Effects
from chatserver.limits import blocks, rules
from chatserver.limits.gate import Blocked, Limited
from chatserver.runtime import Runtime
from chatserver.store import now_ms
from chatserver.webhooks import events

log = logging.getLogger("chatserver.api")

# Every API body is a handful of short fields; anything larger is a mistake or an attack.
MAX_BODY_BYTES = 16 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse(protocol.error(code, message), status_code=status, headers=headers)


async def json_body(request: Request) -> dict[str, Any]:
    """Read the JSON object of a request, checked at the edge (json_input); refuse it with 413 or 400."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json_input.loads(body)
    except json_input.BadJson as bad:
        raise ApiError(400, "invalid_json", str(bad)) from None


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


async def metrics_page(request: Request) -> Response:
    """Prometheus text format, for this machine or a scraper with CHATSERVER_METRICS_TOKEN."""
    rt = _runtime(request)
    client = request.client.host if request.client else None
    if not metrics.allowed(client, request.headers.get("authorization"), rt.settings.metrics_token):
        raise ApiError(403, "forbidden", "metrics are for this machine or a scraper with the token")
    return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


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
        "Access-Control-Allow-Headers": "Content-Type, Authorization",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


def _origin(request: Request) -> str | None:
    """Return the page's origin: a same-origin GET carries no Origin header, only Sec-Fetch-Site.

    Without this the demo shop, served by chatserver itself, was refused its proactive rules.
    A page's script cannot set Sec-Fetch-Site; a script outside a browser could set Origin too.
    """
    origin = request.headers.get("origin")
    if origin is None and request.headers.get("sec-fetch-site") == "same-origin":
        return f"{request.url.scheme}://{request.headers.get('host', '')}"
    return origin


async def _site(request: Request) -> sites.Site:
    site = await sites.by_key(_runtime(request).store, request.path_params["key"])
    if site is None:
        raise ApiError(404, "not_found", "no site with this key")
    return site


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Answer a block with 403 and a spent budget with 429 and Retry-After, in the error shape."""
    try:
        yield
    except Blocked as blocked:
        raise ApiError(403, blocked.code, blocked.message) from None
    except Limited as limited:
        raise ApiError(429, limited.code, limited.message,
                       {"Retry-After": limited.retry_after_header}) from None


WidgetHandler = Callable[[Request, Runtime, sites.Site], Awaitable[Response]]


def widget_endpoint(
    handler: WidgetHandler, door: rules.Door = "frame"
) -> Callable[[Request], Awaitable[Response]]:
    """Serve an endpoint that the widget calls from a site's pages, at /api/v1/sites/{key}/...

    Every answer, refusals included, carries CORS headers; the site comes from the key and
    the page's origin must be one the site allows; a blocked address is refused (403) and
    each call spends the door's budget of its network and site (429 when spent).
    """

    async def endpoint(request: Request) -> Response:
        headers = _cors(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=headers)
        try:
            site = await _site(request)
            origin, host = _origin(request), request.headers.get("host")
            if not sites.origin_allowed(site, origin, host, request.url.scheme):
                raise ApiError(403, "forbidden", "this origin is not allowed for the site")
            client = request.client.host if request.client else None
            rt = _runtime(request)
            with refusals():
                rt.gate.blocked(site, host=blocks.address(client))
                await rt.gate.check(site, door, network=lockout.network(client))
            response = await handler(request, rt, site)
        except ApiError as refused:
            return error_response(refused.status, refused.code, refused.message,
                                  {**(refused.headers or {}), **headers})
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
    if contact_id:
        with refusals():
            rt.gate.blocked(site, contact_id)
            await rt.gate.check(site, "token", visitor=contact_id, whole_site=False)
    verified = False
    if body.get("identity") is not None:
        contact_id, verified = await _identify(rt, site, contact_id, body["identity"], details)
    if contact_id is None:
        contact_id = await customers.create(rt.store, site.id)
        log.info("event=visitor_created site=%s contact=%s", site.id, contact_id)
        await rt.hub.deliver(Effects().happened(events.contact(events.CONTACT_CREATED, site.id, contact_id)))
    elif verified:
        with refusals():
            rt.gate.blocked(site, contact_id)  # a verified user an agent blocked
    # The address an agent may block from the conversation view.
    details["last_address"] = request.client.host if request.client else None
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
        if identity.verify(secret, claim) == "v1":
            # Accepted until identity.LEGACY_ACCEPTED_UNTIL; the log names the sites to tell.
            log.warning("event=identity_legacy_hash site=%s until=%s", site.id,
                        identity.LEGACY_ACCEPTED_UNTIL_DAY)
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
    if contact_id is not None and joined != contact_id:
        # The anonymous visitor turned out to be a known user: their contact is the known one.
        await rt.hub.deliver(Effects().happened(
            events.contact(events.CONTACT_MERGED, site.id, joined, merged_from=contact_id)
        ))
    return joined, True


def _from_our_pages(request: Request) -> None:
    """Refuse a request a browser sent from another origin's page (login CSRF).

    Browsers send Origin with every POST; scripts and curl send none and carry no victim's
    cookies, so they pass. A sandboxed page sends "null" and is refused like a foreign one.
    """
    origin = request.headers.get("origin")
    if origin is not None and not sites.same_origin(
        origin, request.headers.get("host", ""), request.url.scheme
    ):
        raise ApiError(403, "forbidden", "this request came from a page of another origin")


async def login(request: Request) -> Response:
    """Sign an agent in. Only JSON from our own origin: an HTML form on another site can post
    text/plain that looks like JSON without a CORS preflight, and sign a victim's browser in
    to the attacker's account; application/json from another origin needs a preflight that
    is never granted here."""
    rt = _runtime(request)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, "invalid_json", "send the credentials as Content-Type: application/json")
    _from_our_pages(request)
    body = await json_body(request)
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        raise ApiError(400, "invalid_message", "'email' and 'password' are required")
    # The console's sign-in form and this API share the throttles (lockout.py).
    host = request.client.host if request.client else None
    outcome = await lockout.sign_in(rt.store, email[:320], password[:1024], host)
    if isinstance(outcome, lockout.Lock):
        log.info("event=login_throttled")
        seconds = outcome.seconds_left(now_ms())
        raise ApiError(
            429, "too_many_attempts", f"too many failed sign-ins; try again in {seconds} seconds",
            {"Retry-After": str(seconds)},
        )
    if outcome is None:
        log.info("event=login_failed")
        raise ApiError(401, "unauthorized", "wrong email or password")
    session_id = await auth.open_session(rt.store, outcome.id)
    log.info("event=login agent=%s", outcome.id)
    response = JSONResponse({"agent": {"id": outcome.id, "name": outcome.name, "role": outcome.role}})
    response.set_cookie(
        auth.SESSION_COOKIE, rt.signer.session_cookie(session_id),
        max_age=auth.SESSION_MAX_AGE_SECONDS, httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    rt = _runtime(request)
    _from_our_pages(request)
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    session_id = rt.signer.session_id(cookie) if cookie else None
    if session_id:
        await auth.close_session(rt.store, session_id)
    response = Response(status_code=204)
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# What Starlette raises itself (no route, wrong method), in the API's words; our own code
# raises ApiError, so anything else is unexpected enough to name only as a bad request.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def http_error(request: Request, exc: Exception) -> Response:
    """Answer Starlette's own refusals: the error shape under /api/, plain text elsewhere."""
    assert isinstance(exc, HTTPException)
    if not _is_api(request):
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    code = _HTTP_CODES.get(exc.status_code, "invalid_message")
    return error_response(exc.status_code, code, exc.detail.lower(), exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    """Answer a failure inside the server: the error shape under /api/, without its cause.

    Starlette logs the exception with its traceback after this answer is sent.
    """
    if not _is_api(request):
        return PlainTextResponse("Internal Server Error", status_code=500)
    return error_response(500, "internal", "something went wrong on the server; it is logged")


visitors = widget_endpoint(_issue_token, "token")
