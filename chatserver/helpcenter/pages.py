"""The help centre's pages: articles by category, search, a language switch, the chat widget.

The help centre is the installation's: it wears the first site's name and colour and carries
that site's widget (its own origin is always allowed, see sites.origin_allowed).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from babel import Locale
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver import articles, i18n, lockout, passages, sites
from chatserver.articles import LOCALES, Article
from chatserver.helpcenter import votes
from chatserver.i18n import N_
from chatserver.limits.gate import Limited
from chatserver.runtime import Runtime
from chatserver.sites import Site

_templates = i18n.install(Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
))
# Articles are Markdown written by the site's staff or imported; raw HTML in them is shown as
# text, so an article can never carry a script to a visitor.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})
DEFAULT_COLOR = "#2563eb"
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
# A category's first articles on the home page; its own page lists them all.
HOME_PER_CATEGORY = 6
# A vote is two short fields; a token is 64 characters.
MAX_VOTE_BYTES = 1024


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    href: str


def routes() -> list[BaseRoute]:
    return [
        Route("/help", index_redirect),
        Route("/help/help.css", stylesheet),
        Route("/help/{locale}", home),
        Route("/help/{locale}/category/{key}", category_page),
        Route("/help/{locale}/{slug}", article_page),
        Route("/help/{locale}/{slug}/vote", vote, methods=["POST"]),
    ]


def _headers(request: Request) -> dict[str, str]:
    host = request.headers.get("host", "")
    socket = ("wss://" if request.url.scheme == "https" else "ws://") + host
    return {
        # Scripts only from this server (the widget); no inline script. Inline styles are
        # allowed because the widget draws its panel with <style> in its shadow root.
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' https: data: blob:; connect-src 'self' {socket}; media-src 'self' blob:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }


def key_of(category: str) -> str:
    """Return a category's URL key: "Orders & delivery" becomes "orders-delivery"."""
    return "-".join(re.findall(r"[a-z0-9]+", category.lower())) or "other"


def _on(color: str) -> str:
    """Return the text colour readable on a background colour (WCAG relative luminance)."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return "#111827" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.35 else "#ffffff"


async def _site(rt: Runtime) -> Site | None:
    first = (await sites.all_sites(rt.store))[:1]
    return first[0] if first else None


def _languages(listed: list[Article], locale: str, slug: str | None = None) -> list[Language]:
    """Return the languages that have articles, each linked to this article's page in it when
    it has one (same slug), else to its home."""
    have = {a.locale for a in listed}
    slugs = {(a.locale, a.slug) for a in listed}
    return [
        Language(code, (Locale.parse(code).get_display_name(code) or code).capitalize(),
                 f"/help/{code}/{slug}" if slug and (code, slug) in slugs else f"/help/{code}")
        for code in LOCALES if code in have and code != locale
    ]


async def _page(
    request: Request, template: str, locale: str, status: int = 200, listed: list[Article] | None = None,
    slug: str | None = None, **values: object,
) -> Response:
    rt: Runtime = request.app.state.runtime
    site = await _site(rt)
    color = str(site.settings.get("color") or DEFAULT_COLOR) if site else DEFAULT_COLOR
    color = color if _COLOR.fullmatch(color) else DEFAULT_COLOR
    listed = await articles.all_articles(rt.store) if listed is None else listed
    html = _templates.get_template(template).render(
        locale=locale, site=site, color=color, on_color=_on(color),
        languages=_languages(listed, locale, slug), **values,
    )
    return HTMLResponse(html, status_code=status, headers=_headers(request))


async def index_redirect(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    site = await _site(rt)
    locale = site.settings.get("locale", "en") if site else "en"
    return RedirectResponse(f"/help/{locale if locale in LOCALES else 'en'}", status_code=302)


async def stylesheet(request: Request) -> Response:
    css = (Path(__file__).parent / "templates" / "help.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


def _by_category(listed: list[Article]) -> list[tuple[str, list[Article]]]:
    """Return the categories in name order, each with its articles by title; none ("") last."""
    grouped: dict[str, list[Article]] = defaultdict(list)
    for article in sorted(listed, key=lambda a: a.title.lower()):
        grouped[article.section].append(article)
    return sorted(grouped.items(), key=lambda kv: (not kv[0], kv[0].lower()))


async def home(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    locale = request.path_params["locale"]
    if locale not in LOCALES:
        return await _page(request, "missing.html", "en", 404)
    query = request.query_params.get("q", "").strip()[:200]
    found = await rt.suggester.suggest(query, locale, limit=10) if query else []
    every = await articles.all_articles(rt.store)
    listed = [a for a in every if a.locale == locale]
    return await _page(request, "home.html", locale, listed=every, query=query, found=found,
                       categories=_by_category(listed), per_category=HOME_PER_CATEGORY,
                       key_of=key_of, marked=_marked)


async def category_page(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    locale, key = request.path_params["locale"], request.path_params["key"]
    every = await articles.all_articles(rt.store)
    listed = [a for a in every if a.locale == locale and a.section and key_of(a.section) == key]
    if locale not in LOCALES or not listed:
        return await _page(request, "missing.html", locale if locale in LOCALES else "en", 404)
    return await _page(request, "category.html", locale, listed=every, category=listed[0].section,
                       articles=sorted(listed, key=lambda a: a.title.lower()))


async def article_page(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    locale, slug = request.path_params["locale"], request.path_params["slug"]
    found = await articles.get(rt.store, locale, slug) if locale in LOCALES else None
    if found is None:
        return await _page(request, "missing.html", locale if locale in LOCALES else "en", 404)
    voter = request.cookies.get(votes.VOTER_COOKIE)
    fresh = not votes.valid_voter(voter)
    voter = votes.new_voter() if fresh or voter is None else voter
    site = await _site(rt)
    answer = None if fresh or site is None else await votes.mine(rt.store, site.id, locale, slug, voter)
    response = await _page(
        request, "article.html", locale, slug=slug, article=found, key_of=key_of,
        body=_article_html(found.body), can_vote=site is not None, answer=answer,
        vote_token=votes.form_token(rt.signer, voter),
        problem=request.query_params.get("vote_problem", ""),
    )
    if fresh and site is not None:
        # Lax: sent when a visitor follows a link here from the shop, never with another
        # site's post (the form token is the second guard).
        response.set_cookie(votes.VOTER_COOKIE, voter, max_age=votes.VOTER_MAX_AGE, path="/help",
                            httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


async def vote(request: Request) -> Response:
    """Count a 'Was this helpful?' answer, then show the article again (post, redirect, get)."""
    rt: Runtime = request.app.state.runtime
    locale, slug = request.path_params["locale"], request.path_params["slug"]
    found = await articles.get(rt.store, locale, slug) if locale in LOCALES else None
    site = await _site(rt)
    if found is None or site is None:
        return await _page(request, "missing.html", locale if locale in LOCALES else "en", 404)
    form = await _small_form(request)
    helpful, token = form.get("helpful", ""), form.get("token", "")
    voter = request.cookies.get(votes.VOTER_COOKIE, "")
    back = f"/help/{locale}/{slug}"
    if helpful not in ("yes", "no"):
        return await _refused(request, locale, 400, N_("help_vote_invalid"), back)
    if not votes.valid_voter(voter) or not votes.token_matches(rt.signer, voter, token):
        return await _refused(request, locale, 403, N_("help_vote_expired"), back)
    client = request.client.host if request.client else None
    try:
        await rt.gate.check(site, "frame", network=lockout.network(client))
    except Limited as limited:
        return await _refused(request, locale, 429, N_("help_vote_flood"), back,
                              {"Retry-After": limited.retry_after_header})
    outcome = await votes.cast(rt.store, site.id, locale, slug, voter, helpful == "yes",
                               votes.network_key(rt.signer, lockout.network(client)))
    if outcome == "flood":
        return await _refused(request, locale, 429, N_("help_vote_flood"), back)
    return RedirectResponse(f"{back}#vote", status_code=303)


async def _small_form(request: Request) -> dict[str, str]:
    """Return a vote's few fields; {} for anything bigger than a vote or not a plain form."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_VOTE_BYTES:
            return {}
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=4))
    except (UnicodeDecodeError, ValueError):
        return {}


async def _refused(
    request: Request, locale: str, status: int, key: str, back: str, headers: dict[str, str] | None = None,
) -> Response:
    response = await _page(request, "refused.html", locale, status, problem=key, back=back)
    response.headers.update(headers or {})
    return response


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
