"""The public help centre: every article on its own page, and a search box. No JavaScript."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver import articles, i18n, passages, sites
from chatserver.articles import LOCALES
from chatserver.runtime import Runtime

_templates = i18n.install(Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
))
# Articles are Markdown written by the site's staff; raw HTML in them is shown as text, so an
# article can never carry a script to a visitor.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
# No scripts, no frames, nothing from elsewhere: the pages are text and one stylesheet.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' https:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def routes() -> list[BaseRoute]:
    return [
        Route("/help", index_redirect),
        Route("/help/help.css", stylesheet),
        Route("/help/{locale}", home),
        Route("/help/{locale}/{slug}", article_page),
    ]


def _page(request: Request, template: str, status: int = 200, **values: object) -> Response:
    html = _templates.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


async def index_redirect(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    first = (await sites.all_sites(rt.store))[:1]
    locale = first[0].settings.get("locale", "en") if first else "en"
    return RedirectResponse(f"/help/{locale if locale in LOCALES else 'en'}", status_code=302)


async def stylesheet(request: Request) -> Response:
    css = (Path(__file__).parent / "templates" / "help.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


async def home(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    locale = request.path_params["locale"]
    if locale not in LOCALES:
        return _page(request, "missing.html", 404, locale="en")
    query = request.query_params.get("q", "").strip()[:200]
    found = await rt.suggester.suggest(query, locale, limit=10) if query else []
    listed = [a for a in await articles.all_articles(rt.store) if a.locale == locale]
    return _page(request, "home.html", locale=locale, query=query, found=found,
                 articles=sorted(listed, key=lambda a: (a.tags[:1], a.title)),
                 marked=_marked)


async def article_page(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    locale, slug = request.path_params["locale"], request.path_params["slug"]
    found = await articles.get(rt.store, locale, slug) if locale in LOCALES else None
    if found is None:
        return _page(request, "missing.html", 404, locale=locale if locale in LOCALES else "en")
    return _page(request, "article.html", locale=locale, article=found, body=_article_html(found.body))


def _article_html(body: str) -> Markup:
    """Render an article; its ## and ### headings get the ids suggestions link to (passages.py)."""
    tokens = _markdown.parse(body)
    headings = [(token, tokens[i + 1].content) for i, token in enumerate(tokens)
                if token.type == "heading_open" and token.tag in ("h2", "h3")
                and token.markup.startswith("#")]
    for (token, _), name in zip(headings, passages.anchors(text for _, text in headings), strict=True):
        token.attrSet("id", name)
    return Markup(_markdown.renderer.render(tokens, _markdown.options, {}))


def _marked(snippet: str) -> Markup:
    """Turn [[match]] markers into <mark>, escaping everything else."""
    parts = snippet.replace("]]", "[[").split("[[")
    return Markup("").join(
        Markup("<mark>{}</mark>").format(part) if i % 2 else Markup("{}").format(part)
        for i, part in enumerate(parts)
    )
