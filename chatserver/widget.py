"""The widget's files and the demo shop page: /widget.js (the loader), /widget/<file>, /."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver import sites
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


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    content_type: str
    mtime: float


_cache: dict[Path, Asset] = {}


def _asset(path: Path, content_type: str, version: str = "") -> Asset:
    """Return the file, gzipped and hashed once, and again whenever it changes on disk."""
    mtime = path.stat().st_mtime
    cached = _cache.get(path)
    if cached and cached.mtime == mtime and (not version or version.encode() in cached.body):
        return cached
    body = path.read_bytes()
    if version:
        body = body.replace(b"__VERSION__", version.encode())
    asset = Asset(
        body, gzip.compress(body, 9, mtime=0),
        '"' + hashlib.sha256(body).hexdigest()[:16] + '"', content_type, mtime,
    )
    _cache[path] = asset
    return asset


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


def panel_version() -> str:
    """Return the content hash that versions the panel's URL."""
    return _asset(STATIC / "widget.js", SERVED["widget.js"]).etag.strip('"')


async def loader(request: Request) -> Response:
    """Serve the loader that host pages embed as /widget.js."""
    asset = _asset(STATIC / "loader.js", SERVED["widget.js"], version=panel_version())
    return _send(request, asset, LOADER_MAX_AGE)


async def static_file(request: Request) -> Response:
    """Serve the panel's files; only the names in SERVED, never a path."""
    name = request.path_params["name"]
    if name not in SERVED or not (STATIC / name).is_file():
        return PlainTextResponse("not found", status_code=404)
    asset = _asset(STATIC / name, SERVED[name])
    current = request.query_params.get("v") == asset.etag.strip('"')
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
        Route("/widget/{name}", static_file),
    ]
