"""The HTTP JSON API: health, visitor tokens, agent sign-in. Errors use protocol.error's shape."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatserver import __version__, agents, auth, contacts, protocol, sites
from chatserver.runtime import Runtime

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


async def _json_body(request: Request) -> dict[str, Any]:
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
    rt = _runtime(request)
    async with rt.store.read() as conn:
        await conn.execute(text("SELECT 1"))
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "store": "sqlite" if rt.store.is_sqlite else "postgresql",
            "broker": rt.settings.broker_url.split(":", 1)[0],
        }
    )


def _cors(site: sites.Site, request: Request) -> dict[str, str]:
    origin = request.headers.get("origin")
    if not sites.origin_allowed(site, origin, request.headers.get("host")):
        raise ApiError(403, "forbidden", "this origin is not allowed for the site")
    assert origin is not None
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }


async def _site(request: Request) -> sites.Site:
    site = await sites.by_key(_runtime(request).store, request.path_params["key"])
    if site is None:
        raise ApiError(404, "not_found", "no site with this key")
    return site


async def visitors(request: Request) -> Response:
    """Issue a visitor token for a site: a new visitor, or a renewal of a valid token."""
    rt = _runtime(request)
    site = await _site(request)
    headers = _cors(site, request)
    if request.method == "OPTIONS":
        return Response(status_code=204, headers=headers)
    body = await _json_body(request)
    previous = body.get("token")
    identity = rt.signer.visitor(previous) if isinstance(previous, str) else None
    if identity is None or identity.site_id != site.id or not await contacts.belongs(
        rt.store, identity.contact_id, site.id
    ):
        identity = auth.VisitorIdentity(site.id, await contacts.create(rt.store, site.id))
        log.info("event=visitor_created site=%s contact=%s", site.id, identity.contact_id)
    return JSONResponse(
        {
            "token": rt.signer.visitor_token(identity),
            "visitor": {"id": identity.contact_id},
            "site": {"name": site.name, "settings": site.settings},
            "agents_online": bool(await agents.candidates(rt.store, site.id)),
        },
        headers=headers,
    )


async def login(request: Request) -> Response:
    rt = _runtime(request)
    body = await _json_body(request)
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        raise ApiError(400, "invalid_message", "'email' and 'password' are required")
    agent = await agents.authenticate(rt.store, email, password)
    if agent is None:
        log.info("event=login_failed")
        raise ApiError(401, "unauthorized", "wrong email or password")
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
