"""Admins edit the help centre: list, create, edit and delete articles.

Articles are one set per installation (the store's articles table). A saved change reaches
every process's search index within seconds by itself (suggestions.Suggester.keep_fresh).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chatserver import articles
from chatserver.articles import Article
from chatserver.console import pages
from chatserver.console.admin import admins_only
from chatserver.console.pages import FormRefused, Viewer
from chatserver.i18n import N_

log = logging.getLogger("chatserver.console")

MAX_TITLE_CHARS = 200
MAX_SLUG_CHARS = 100
# A long help article is a few thousand words; more is a pasted manual that helps nobody.
MAX_BODY_CHARS = 50_000
MAX_TAGS = 10
MAX_SYNONYMS = 50
MAX_WORD_CHARS = 60
# The body dominates the form; form-encoding can triple it, plus the other fields.
MAX_ARTICLE_FORM_BYTES = 4 * MAX_BODY_CHARS + 16 * 1024


class ArticleInvalid(ValueError):
    """A form field that cannot be saved; names the field so the page can mark it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _words(raw: str, field: str, limit: int) -> tuple[str, ...]:
    words = articles.split_list(raw)
    if len(words) > limit:
        raise ArticleInvalid(field, f"at most {limit} {field}")
    for word in words:
        if len(word) > MAX_WORD_CHARS or "\n" in word:
            raise ArticleInvalid(
                field, f"each of the {field} is one line of at most {MAX_WORD_CHARS} characters"
            )
    first: dict[str, str] = {}
    for word in words:
        first.setdefault(word.lower(), word)  # "Orders" and "orders" are one tag
    return tuple(first.values())


def check(form: dict[str, str]) -> Article:
    """Build an article from the form's fields; raise ArticleInvalid naming the first bad one."""
    slug = form.get("slug", "").strip()
    locale = form.get("locale", "").strip()
    title = " ".join(form.get("title", "").split())
    body = form.get("body", "").replace("\r\n", "\n").strip()
    if not articles.valid_slug(slug) or len(slug) > MAX_SLUG_CHARS:
        raise ArticleInvalid(
            "slug", f"the slug must be 1-{MAX_SLUG_CHARS} lower-case letters, digits and single "
            "dashes, like return-a-parcel",
        )
    if locale not in articles.LOCALES:
        raise ArticleInvalid("locale", f"the language must be one of {', '.join(articles.LOCALES)}")
    if not title or len(title) > MAX_TITLE_CHARS:
        raise ArticleInvalid("title", f"the title must be 1-{MAX_TITLE_CHARS} characters")
    if not body or len(body) > MAX_BODY_CHARS:
        raise ArticleInvalid("body", f"the text must be 1-{MAX_BODY_CHARS:,} characters")
    tags = _words(form.get("tags", ""), "tags", MAX_TAGS)
    if not tags:
        raise ArticleInvalid("tags", "give at least one tag: the first is the article's category")
    synonyms = _words(form.get("synonyms", ""), "synonyms", MAX_SYNONYMS)
    category = " ".join(form.get("category", "").split())
    if len(category) > articles.MAX_CATEGORY_CHARS:
        raise ArticleInvalid("category", f"the category must be 0-{articles.MAX_CATEGORY_CHARS} characters")
    return Article.build(slug=slug, locale=locale, title=title, body=body, tags=tags, synonyms=synonyms,
                         category=category)


def _fields(article: Article | None) -> dict[str, str]:
    if article is None:
        return {"slug": "", "locale": "en", "title": "", "tags": "", "synonyms": "", "category": "",
                "body": ""}
    return {"slug": article.slug, "locale": article.locale, "title": article.title,
            "tags": ", ".join(article.tags), "synonyms": ", ".join(article.synonyms),
            "category": article.category, "body": article.body}


def _form_page(
    request: Request, who: Viewer, fields: dict[str, str], *, new: bool,
    error: ArticleInvalid | None = None, saved: bool = False,
) -> Response:
    return pages.render(
        request, "admin_article.html", who, status=400 if error else 200, f=fields, new=new,
        error=error, saved=saved, locales=articles.LOCALES,
    )


@admins_only
async def article_list(request: Request, who: Viewer) -> Response:
    locale = request.query_params.get("locale", "")
    q = request.query_params.get("q", "").strip().lower()[:200]
    listed = [
        a for a in await articles.all_articles(pages.runtime(request).store)
        if (not locale or a.locale == locale)
        and (not q or q in a.title.lower() or q in a.slug or any(q in t.lower() for t in a.tags))
    ]
    return pages.render(
        request, "admin_articles.html", who, articles=listed, locale=locale, q=q,
        locales=articles.LOCALES, deleted=request.query_params.get("deleted") == "1",
    )


@admins_only
async def article_new(request: Request, who: Viewer) -> Response:
    return _form_page(request, who, _fields(None), new=True)


@admins_only
async def article_create(request: Request, who: Viewer) -> Response:
    try:
        fields = await pages.form(request, who, MAX_ARTICLE_FORM_BYTES)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    try:
        article = check(fields)
        if not await articles.create(pages.runtime(request).store, article):
            raise ArticleInvalid(
                "slug", f"{article.locale}/{article.slug} already exists: pick another slug"
            )
    except ArticleInvalid as bad:
        # Nothing is stored; the form comes back with everything typed and the field named.
        return _form_page(request, who, {**_fields(None), **fields}, new=True, error=bad)
    log.info("event=article_created locale=%s slug=%s by=%s", article.locale, article.slug, who.agent.id)
    return RedirectResponse(_url(article.locale, article.slug) + "?saved=1", status_code=303)


def _url(locale: str, slug: str) -> str:
    return f"/console/admin/articles/{locale}/{slug}"


async def _stored(request: Request) -> Article | None:
    locale, slug = request.path_params["locale"], request.path_params["slug"]
    if locale not in articles.LOCALES or not articles.valid_slug(slug):
        return None
    return await articles.get(pages.runtime(request).store, locale, slug)


def _missing(request: Request, who: Viewer) -> Response:
    return pages.render(request, "refused.html", who, status=404, message_key=N_("error_no_article"))


@admins_only
async def article_edit(request: Request, who: Viewer) -> Response:
    article = await _stored(request)
    if article is None:
        return _missing(request, who)
    saved = request.query_params.get("saved") == "1"
    return _form_page(request, who, _fields(article), new=False, saved=saved)


@admins_only
async def article_save(request: Request, who: Viewer) -> Response:
    article = await _stored(request)
    if article is None:
        return _missing(request, who)
    try:
        fields = await pages.form(request, who, MAX_ARTICLE_FORM_BYTES)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    # The address of an article is its identity: locale and slug come from the path, not the form.
    fields = {**fields, "locale": article.locale, "slug": article.slug}
    try:
        changed = check(fields)
    except ArticleInvalid as bad:
        return _form_page(request, who, {**_fields(article), **fields}, new=False, error=bad)
    if not await articles.save(pages.runtime(request).store, changed):
        return _missing(request, who)  # deleted meanwhile by another admin
    log.info("event=article_saved locale=%s slug=%s by=%s", article.locale, article.slug, who.agent.id)
    return RedirectResponse(_url(article.locale, article.slug) + "?saved=1", status_code=303)


@admins_only
async def article_delete(request: Request, who: Viewer) -> Response:
    article = await _stored(request)
    if article is None:
        return _missing(request, who)
    try:
        await pages.form(request, who)
    except FormRefused as refused:
        return pages.refused(request, who, refused)
    await articles.remove(pages.runtime(request).store, article.locale, article.slug)
    log.info("event=article_deleted locale=%s slug=%s by=%s", article.locale, article.slug, who.agent.id)
    return RedirectResponse("/console/admin/articles?deleted=1", status_code=303)


def routes() -> list[BaseRoute]:
    base = "/console/admin/articles"
    item = base + "/{locale}/{slug}"
    handlers: list[tuple[str, Any, str]] = [
        (base, article_list, "GET"),
        (base + "/new", article_new, "GET"),
        (base + "/new", article_create, "POST"),
        (item, article_edit, "GET"),
        (item, article_save, "POST"),
        (item + "/delete", article_delete, "POST"),
    ]
    return [Route(path, handler, methods=[method]) for path, handler, method in handlers]
