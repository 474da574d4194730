"""The widget's files and the demo shop page: /widget.js (the loader), /widget/<file>, /.

The panel is served with one language's strings in it (the one its loader asks for), and
/widget/strings/<lang>.json gives another when a visitor switches.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver import i18n, sites
from chatserver.runtime import Runtime

# In a checkout the files sit next to the package; in a wheel they are copied into it.
_REPO = Path(__file__).resolve().parent.parent / "widget"
_ROOT = _REPO if _REPO.is_dir() else Path(__file__).resolve().parent / "widget_files"
STATIC = _ROOT / "static"
DEMO = _ROOT / "demo"

# The loader's URL is pasted into every host page and cannot change, so browsers may keep it
# only briefly; five minutes lets a new release reach visitors the same day.
LOADER_MAX_AGE = 300
# The panel's URL carries a hash of its content (?v=), so a cached copy is never stale.
VERSIONED_MAX_AGE = 365 * 24 * 3600
# A request for the panel without the current hash (an old loader) is kept an hour at most.
UNVERSIONED_MAX_AGE = 3600
SERVED = {"widget.js": "text/javascript; charset=utf-8", "widget.css": "text/css; charset=utf-8"}
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    content_type: str
    mtime: float
    filled: dict[str, str]


_cache: dict[tuple[Path, str], Asset] = {}

# Comments and indentation are for whoever reads the source: browsers get the scripts
# without whole-line comments and leading blanks (3 KB less gzipped). Neither script has
# template literals or continued strings, so no line of a string begins a line.
_COMMENT_LINE = re.compile(rb"^[ \t]*//.*\n", re.M)
_INDENT = re.compile(rb"^[ \t]+", re.M)


def _asset(path: Path, content_type: str, fill: dict[str, str] | None = None, variant: str = "") -> Asset:
    """Return the file with its placeholders filled, gzipped and hashed once, and again
    whenever it changes on disk or what fills it changes."""
    fill = fill or {}
    mtime = path.stat().st_mtime
    cached = _cache.get((path, variant))
    if cached and cached.mtime == mtime and cached.filled == fill:
        return cached
    body = path.read_bytes()
    if path.suffix == ".js":
        body = _INDENT.sub(b"", _COMMENT_LINE.sub(b"", body))
    for name, value in fill.items():
        body = body.replace(name.encode(), value.encode())
    asset = _made(body, content_type, mtime, fill)
    _cache[(path, variant)] = asset
    return asset


def _made(body: bytes, content_type: str, mtime: float = 0.0, fill: dict[str, str] | None = None) -> Asset:
    return Asset(
        body, gzip.compress(body, 9, mtime=0),
        '"' + hashlib.sha256(body).hexdigest()[:16] + '"', content_type, mtime, fill or {},
    )


def _send(request: Request, asset: Asset, max_age: int, immutable: bool = False) -> Response:
    cache = f"public, max-age={max_age}" + (", immutable" if immutable else "")
    headers = {
        "Cache-Control": cache, "ETag": asset.etag, "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        # Host pages on any origin load these files, with or without crossorigin.
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.content_type, headers=headers)


def _strings(locale: str) -> str:
    return json.dumps(i18n.strings(locale, i18n.WIDGET_PREFIX), ensure_ascii=False, separators=(",", ":"))


def _panel_i18n(locale: str) -> str:
    return json.dumps({
        "locales": i18n.LOCALES, "lang": locale, "strings": i18n.strings(locale, i18n.WIDGET_PREFIX),
        # A site that kept this greeting gets the visitor's language's instead.
        "greeting": sites.DEFAULT_SETTINGS["greeting"],
    }, ensure_ascii=False, separators=(",", ":"))


def panel_version() -> str:
    """Return the hash of the panel and its strings in every language: it versions their URLs."""
    raw = _asset(STATIC / "widget.js", SERVED["widget.js"])
    tables = "".join(_strings(locale) for locale in i18n.LOCALES)
    return hashlib.sha256(raw.body + tables.encode()).hexdigest()[:16]


async def loader(request: Request) -> Response:
    """Serve the loader that host pages embed as /widget.js."""
    asset = _asset(STATIC / "loader.js", SERVED["widget.js"], {"__VERSION__": panel_version()})
    return _send(request, asset, LOADER_MAX_AGE)


async def static_file(request: Request) -> Response:
    """Serve the panel's files; only the names in SERVED, never a path."""
    name = request.path_params["name"]
    if name not in SERVED or not (STATIC / name).is_file():
        return PlainTextResponse("not found", status_code=404)
    version = panel_version()
    if name == "widget.js":
        # ?l= lists what the loader saw, in the panel's order: data-locale, the browser's, the
        # site's ("nl,en-US,nl"); the first known wins. (A language set by chatserver('locale')
        # is fetched by the panel: the loader has no room for it in its 2 KB.)
        locale = i18n.pick(*request.query_params.get("l", "").split(","))
        fill = {"__I18N__": _panel_i18n(locale), "__VERSION__": version}
        asset = _asset(STATIC / name, SERVED[name], fill, variant=locale)
    else:
        asset = _asset(STATIC / name, SERVED[name])
        version = asset.etag.strip('"')
    current = request.query_params.get("v") == version
    return _send(request, asset, VERSIONED_MAX_AGE if current else UNVERSIONED_MAX_AGE, current)


_tables: dict[str, Asset] = {}


async def strings(request: Request) -> Response:
    """Serve one language's widget strings, for a visitor who switches language."""
    locale = request.path_params["locale"]
    if locale not in i18n.LOCALES:
        return PlainTextResponse("not found", status_code=404)
    asset = _tables.get(locale) or _tables.setdefault(locale, _made(_strings(locale).encode(), JSON_TYPE))
    current = request.query_params.get("v") == panel_version()
    return _send(request, asset, VERSIONED_MAX_AGE if current else UNVERSIONED_MAX_AGE, current)


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(DEMO)), autoescape=True, keep_trailing_newline=True
)


async def demo(request: Request) -> Response:
    """Show the demo shop with the first site's snippet in it."""
    rt: Runtime = request.app.state.runtime
    found = await sites.all_sites(rt.store)
    if not found:
        return PlainTextResponse("no site yet: run `chatserver sites add`", status_code=503)
    page = _templates.get_template("index.html").render(
        site=found[0], chat_host=str(request.base_url).rstrip("/")
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    """Return the routes to mount on the application."""
    return [
        Route("/", demo),
        Route("/widget.js", loader),
        Route("/widget/strings/{locale}.json", strings),
        Route("/widget/{name}", static_file),
    ]
