"""What every console page shares: templates, language, security headers, CSRF, who is signed in."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from chatserver import agents, auth, i18n, sites
from chatserver.agents import Agent
from chatserver.runtime import Runtime
from chatserver.store.schema import agents as agents_table

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CSRF_COOKIE = "chatserver_csrf"
CSRF_FIELD = "csrf"
# Console forms carry a few short fields; a canned response is the longest (5,000 characters,
# escaped up to 3x when form-encoded), so 64 KiB refuses only mistakes and attacks.
MAX_FORM_BYTES = 64 * 1024
STATIC_TYPES = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "inbox.js": "text/javascript; charset=utf-8",
    "admin.js": "text/javascript; charset=utf-8",
    "chatview.js": "text/javascript; charset=utf-8",
    "tickets.js": "text/javascript; charset=utf-8",
    "sla.js": "text/javascript; charset=utf-8",
    "visitors.js": "text/javascript; charset=utf-8",
}

_templates = i18n.install(jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
))


@dataclass(frozen=True)
class Viewer:
    """The agent signed in on this request, their session and the console's language."""

    agent: Agent
    session_id: str
    locale: str

    @property
    def is_admin(self) -> bool:
        return self.agent.role == "admin"


class FormRefused(Exception):
    """A form post the console will not act on; the page says why and nothing is stored."""

    def __init__(self, status: int, message_key: str) -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def browser_locale(request: Request) -> str:
    """Return the first console language the browser asks for, else English."""
    return i18n.from_header(request.headers.get("accept-language", ""))


async def viewer(request: Request) -> Viewer | None:
    """Return the signed-in, enabled agent of this request, or None."""
    rt = runtime(request)
    found = await agents.signed_in(rt.store, rt.signer, request.cookies.get(auth.SESSION_COOKIE))
    if found is None:
        return None
    agent, session_id = found
    async with rt.store.read() as conn:
        chosen = (
            await conn.execute(select(agents_table.c.locale).where(agents_table.c.id == agent.id))
        ).scalar()
    return Viewer(agent, session_id, chosen if chosen in i18n.LOCALES else browser_locale(request))


def security_headers(request: Request) -> dict[str, str]:
    """Return the headers every console response carries."""
    host = request.headers.get("host", "")
    socket = ("wss://" if request.url.scheme == "https" else "ws://") + host
    return {
        # No inline script or style anywhere: what a visitor typed can never run here, and no
        # other site may frame the console to trick an agent into clicks.
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {socket}; media-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _nonce(request: Request) -> tuple[str, bool]:
    """Return the browser's CSRF nonce and whether it is new (then it must be set)."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum():
        return nonce, False
    return new_nonce(), True


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def set_nonce(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, nonce, httponly=True, samesite="strict", path="/console",
        secure=request.url.scheme == "https",
    )


def render(
    request: Request,
    template: str,
    who: Viewer | None,
    *,
    status: int = 200,
    locale: str | None = None,
    nonce: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a console page with its CSRF token, language and security headers."""
    fresh = nonce is not None
    if nonce is None:
        nonce, fresh = _nonce(request)
    locale = locale or (who.locale if who else browser_locale(request))
    token = runtime(request).signer.csrf_token(nonce, who.session_id if who else None)
    html = _templates.get_template(template).render(
        locale=locale, csrf=token, viewer=who, path=request.url.path,
        # Where the language switch comes back to: the same page, its query kept (a report's range).
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        static=static_url, strings=i18n.strings(locale, console=True), **context,
    )
    response = HTMLResponse(html, status_code=status, headers=security_headers(request))
    if fresh:
        set_nonce(request, response, nonce)
    return response


async def form(
    request: Request, who: Viewer | None, max_bytes: int = MAX_FORM_BYTES
) -> dict[str, str]:
    """Read a posted form and check where it came from; raise FormRefused otherwise."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin and origin != "null" and not sites.same_origin(origin, host, request.url.scheme):
        raise FormRefused(403, i18n.N_("error_foreign_origin"))
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise FormRefused(400, i18n.N_("error_bad_form"))
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise FormRefused(413, i18n.N_("error_form_too_large"))
    try:
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, i18n.N_("error_bad_form")) from None
    nonce = request.cookies.get(CSRF_COOKIE, "")
    expected = runtime(request).signer.csrf_token(nonce, who.session_id if who else None)
    if not nonce or not secrets.compare_digest(fields.get(CSRF_FIELD, ""), expected):
        raise FormRefused(403, i18n.N_("error_csrf"))
    return fields


def refused(request: Request, who: Viewer | None, error: FormRefused) -> HTMLResponse:
    """Show why a form was refused, with a way back."""
    return render(request, "refused.html", who, status=error.status, message_key=error.message_key)


def to_signin(request: Request) -> Response:
    """Send a browser without a session to the sign-in page, then back here."""
    target = request.url.path
    return RedirectResponse(f"/console/signin?next={target}", status_code=303)


def forbidden(request: Request, who: Viewer) -> HTMLResponse:
    return render(request, "refused.html", who, status=403, message_key=i18n.N_("error_admins_only"))


_assets: dict[str, tuple[float, bytes, str]] = {}


def static_url(name: str) -> str:
    """Return the URL of a console file, versioned by its content so caches never go stale."""
    return f"/console/static/{name}?v={_static(name)[2]}"


def _static(name: str) -> tuple[float, bytes, str]:
    path = STATIC / name
    mtime = path.stat().st_mtime
    cached = _assets.get(name)
    if cached and cached[0] == mtime:
        return cached
    body = path.read_bytes()
    entry = (mtime, body, hashlib.sha256(body).hexdigest()[:12])
    _assets[name] = entry
    return entry


async def static_file(request: Request) -> Response:
    """Serve the console's CSS and scripts; only the names in STATIC_TYPES."""
    name = request.path_params["name"]
    if name not in STATIC_TYPES:
        return PlainTextResponse("not found", status_code=404)
    _, body, version = _static(name)
    current = request.query_params.get("v") == version
    return Response(
        body, media_type=STATIC_TYPES[name],
        headers={
            "Cache-Control": "public, max-age=31536000, immutable" if current else "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )
