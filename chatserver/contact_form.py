"""The web contact form: a page a site frames or copies, whose answers become tickets.

GET /form/{site_key} serves a small standalone page (no script) that a site shows in an
iframe, or whose <form> it copies onto its own pages; POST to the same address opens a
ticket through tickets/commands.py, so the customer gets the usual confirmation and their
replies thread by mail like every ticket's.

A public form is a spam target and, through the confirmation, a way to make us mail
anyone. So: a honeypot field, limits per address (IP), per site and per email address,
size limits, and a post is taken only from a browser on the site's own origins or this
server's (Origin), or with the signed token of a page this server rendered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver import channels, i18n, protocol, sites
from chatserver.i18n import N_
from chatserver.mail.addresses import AddressError, check_address, check_name
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.tickets import commands

log = logging.getLogger("chatserver.form")

# A question, a name and an address fit in a few KiB; 32 KiB leaves room for long messages.
MAX_BODY_BYTES = 32 * 1024
MAX_TEXT_CHARS = 5000
MAX_NAME_CHARS = 200
MAX_SUBJECT_CHARS = 200
# A person sends a form or two; a script sends hundreds. Per address: 5 in 10 minutes.
PER_IP = (5, 600.0)
# Every address together, per site: past this an attack is under way, not a busy day.
PER_SITE = (120, 3600.0)
# The confirmation goes to the typed address: at most 3 an hour to one address, so the form
# cannot be used to flood a stranger's inbox.
PER_EMAIL = (3, 3600.0)
# A page's token is good for a day: a form left open over lunch still sends.
TOKEN_MAX_AGE_SECONDS = 24 * 3600
# The honeypot: hidden from people by the page's style, filled in by form-filling robots.
HONEYPOT = "website"

_TEMPLATES = Path(__file__).parent / "templates"
_templates = i18n.install(Environment(
    loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(default=True),
))
_CSS = (_TEMPLATES / "contact_form.css").read_text()
# The page's one style sheet is inline (a frame loads one file, not two) and allowed by its
# hash, so the policy still forbids every other inline style and every script.
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()


class Window:
    """At most `limit` events per key within `seconds`, counted in this process's memory.

    A restart forgets the counts, and each process counts its own: enough to stop one
    client's burst, which is what this is for.
    """

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self._seen: dict[str, deque[float]] = {}

    def take(self, key: str, now: float) -> float | None:
        """Count one event; return None if allowed, else the seconds until one is."""
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.seconds:
            seen.popleft()
        if len(seen) >= self.limit:
            return seen[0] + self.seconds - now
        seen.append(now)
        if len(self._seen) > 10_000:  # forget quiet keys rather than grow without bound
            for stale in [k for k, v in self._seen.items() if not v or v[-1] <= now - self.seconds]:
                del self._seen[stale]
        return None


_limits = {"ip": Window(*PER_IP), "site": Window(*PER_SITE), "email": Window(*PER_EMAIL)}


def routes() -> list[BaseRoute]:
    return [Route("/form/{site_key}", endpoint, methods=["GET", "POST"])]


def _headers(site: sites.Site | None) -> dict[str, str]:
    # Framed by the site's own pages (and this server's), by nobody else's: no clickjacking.
    frames = " ".join(("'self'", *(site.allowed_origins if site else ())))
    return {
        "Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; "
        f"form-action 'self'; frame-ancestors {frames}; base-uri 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Cache-Control": "no-store",
    }


def _token(rt: Runtime, site_id: str, now: int) -> str:
    nonce = f"{now}-{secrets.token_urlsafe(9)}"
    return f"{nonce}.{rt.signer.csrf_token(nonce, 'form:' + site_id)}"


def _token_ok(rt: Runtime, site_id: str, token: str, now: int) -> bool:
    nonce, _, mac = token.partition(".")
    issued = nonce.split("-", 1)[0]
    if not issued.isdigit() or not 0 <= now - int(issued) <= TOKEN_MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(mac, rt.signer.csrf_token(nonce, "form:" + site_id))


def _locale(request: Request, site: sites.Site | None, chosen: str | None = None) -> str:
    asked = chosen or request.query_params.get("lang")
    header = request.headers.get("accept-language")
    return i18n.pick(asked, i18n.from_header(header) if header else None,
                     site.settings.get("locale") if site else None)


def _wants_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith("application/json") or "application/json" in request.headers.get("accept", "")


def _page(
    rt: Runtime, site: sites.Site | None, locale: str, status: int = 200, **values: Any
) -> Response:
    context = {"locale": locale, "site": site, "css": _CSS, "honeypot": HONEYPOT, "fields": {},
               "errors": {}, "max_text": MAX_TEXT_CHARS, **values}
    if site is not None and "token" not in values:
        context["token"] = _token(rt, site.id, int(time.time()))
    html = _templates.get_template("contact_form.html").render(**context)
    return HTMLResponse(html, status_code=status, headers=_headers(site))


def _refusal(
    request: Request, rt: Runtime, site: sites.Site | None, locale: str, status: int, code: str,
    key: str, retry_after: float | None = None, **page: Any,
) -> Response:
    """Answer a refused post in the one error shape (JSON) or as the page, saying why."""
    t = i18n.translator(locale)
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else {}
    if _wants_json(request):
        return JSONResponse(protocol.error(code, t(key), retry_after=retry_after),
                            status_code=status, headers=headers)
    answer = _page(rt, site, locale, status, problem=t(key), **page)
    answer.headers.update(headers)
    return answer


async def endpoint(request: Request) -> Response:
    """GET: the form page. POST: a ticket from the form's fields."""
    rt: Runtime = request.app.state.runtime
    site = await sites.by_key(rt.store, request.path_params["site_key"])
    if request.method == "GET":
        locale = _locale(request, site)
        if site is None:
            return _page(rt, None, locale, 404, problem=i18n.translator(locale)("form_no_site"))
        return _page(rt, site, locale, off=not channels.is_on(site.settings, channels.FORM))
    return await _post(request, rt, site)


async def _post(request: Request, rt: Runtime, site: sites.Site | None) -> Response:
    locale = _locale(request, site)
    if site is None:
        return _refusal(request, rt, None, locale, 404, "not_found", N_("form_no_site"))
    now = time.monotonic()
    host = request.client.host if request.client else "unknown"
    limited = _limited(request, rt, site, locale, "ip", host, now)
    if limited is not None:
        return limited
    fields = await _fields(request)
    if fields is None:
        return _refusal(request, rt, site, locale, 413, "too_large", N_("form_too_large"))
    locale = _locale(request, site, fields.get("lang"))
    if not _trusted(request, rt, site, fields.get("token", "")):
        log.warning("event=form_refused site=%s reason=origin", site.id)
        return _refusal(request, rt, site, locale, 403, "forbidden", N_("form_expired"), fields=fields)
    if fields.get(HONEYPOT):
        # Answered like a real one, so the robot learns nothing; kept nowhere.
        log.info("event=form_honeypot site=%s", site.id)
        return _received(request, rt, site, locale, fields.get("email", ""))
    errors, clean = _check(fields)
    if errors:
        t = i18n.translator(locale)
        if _wants_json(request):
            field, key = next(iter(errors.items()))
            return JSONResponse(protocol.error("invalid_message", f"{field}: {t(key, max=MAX_TEXT_CHARS)}"),
                                status_code=400)
        return _page(rt, site, locale, 400, fields=fields,
                     errors={k: t(v, max=MAX_TEXT_CHARS) for k, v in errors.items()})
    # The site's and the address's budgets count only posts that would open a ticket, so
    # a stranger's refused or trapped posts spend neither.
    for kind, key in (("site", site.id), ("email", clean["email"])):
        limited = _limited(request, rt, site, locale, kind, key, now)
        if limited is not None:
            return limited
    # The same words from the same address (a double click, a resend) are one ticket.
    digest = hashlib.sha256(json.dumps([clean["email"], clean["subject"], clean["text"]]).encode())
    try:
        done = await commands.open_from_form(rt, site, client_id=digest.hexdigest()[:40], **clean)
    except ProtocolError as refused:  # the site switched the form off
        return _refusal(request, rt, site, locale, 403, refused.code, N_("form_off"), off=True)
    await rt.hub.deliver(done.effects)
    return _received(request, rt, site, locale, clean["email"])


def _limited(
    request: Request, rt: Runtime, site: sites.Site, locale: str, kind: str, key: str, now: float
) -> Response | None:
    wait = _limits[kind].take(key, now)
    if wait is None:
        return None
    log.warning("event=form_rate_limited site=%s by=%s", site.id, kind)
    return _refusal(request, rt, site, locale, 429, "rate_limited", N_("form_rate_limited"), wait)


def _received(request: Request, rt: Runtime, site: sites.Site, locale: str, email: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"received": True}, status_code=201)
    return _page(rt, site, locale, sent=email)


async def _fields(request: Request) -> dict[str, str] | None:
    """Return the posted fields (form-encoded or a JSON object), or None past the size limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    text = body.decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        pairs: list[tuple[Any, Any]] = list(data.items()) if isinstance(data, dict) else []
    else:
        pairs = parse_qsl(text, keep_blank_values=True)
    return {str(k): v.strip() for k, v in pairs if isinstance(v, str)}


def _check(fields: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Return (field: error key) for what is wrong, and the clean values when nothing is."""
    errors: dict[str, str] = {}
    email = fields.get("email", "")
    try:
        email = check_address(email).lower()
    except AddressError:
        errors["email"] = N_("form_error_email")
    name: str | None = fields.get("name") or None
    if name is not None:
        try:
            name = check_name(name)[:MAX_NAME_CHARS]
        except AddressError:
            errors["name"] = N_("form_error_name")
    subject = fields.get("subject") or None
    if subject is not None and len(subject) > MAX_SUBJECT_CHARS:
        errors["subject"] = N_("form_error_subject")
    text = fields.get("message", "")
    if not text:
        errors["message"] = N_("form_error_message_empty")
    elif len(text) > MAX_TEXT_CHARS:
        errors["message"] = N_("form_error_message_long")
    return errors, {"email": email, "name": name, "subject": subject, "text": text}


def _trusted(request: Request, rt: Runtime, site: sites.Site, token: str) -> bool:
    """Tell whether a post may open a ticket: from a page of the site or of this server.

    A browser names the page's origin, and it must be one of the site's or ours: another
    site's page cannot make its visitors post here, token or not. Without an Origin (or
    "null", a privacy-minded browser), the signed token of a page we rendered stands in.
    """
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return sites.origin_allowed(site, origin, request.headers.get("host"), request.url.scheme)
    return _token_ok(rt, site.id, token, int(time.time()))
