"""Help articles: list, read, create, update. One set per installation, shared by its sites.

Reading needs a read token; writing changes every site's help centre, so it takes admin.
The console's rules (console/articles_admin.check) decide what an article may hold; every
process's search index picks a change up within seconds (Suggester.keep_fresh).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from chatserver import articles
from chatserver.api import ApiError
from chatserver.articles import Article
from chatserver.console.articles_admin import MAX_BODY_CHARS, MAX_SYNONYMS, MAX_TAGS, ArticleInvalid, check
from chatserver.public_api import pagination
from chatserver.public_api.operations import Call, Operation, Param
from chatserver.public_api.shapes import Schema, obj, page, string
from chatserver.store.schema import articles as table

log = logging.getLogger("chatserver.public_api")
TAG = "articles"

_WORDS: Schema = {"type": "array", "items": string(60)}
ARTICLE = obj({
    "locale": {"type": "string", "enum": list(articles.LOCALES)}, "slug": string(100),
    "title": string(200), "tags": _WORDS, "synonyms": _WORDS, "body": string(MAX_BODY_CHARS),
    "category": string(articles.MAX_CATEGORY_CHARS, description="where the help centre lists it"),
    "url": string(2000, description="the public help-centre page"),
}, ("locale", "slug", "title", "tags", "body"), closed=False)


def describe(article: Article, base_url: str) -> dict[str, Any]:
    return {"locale": article.locale, "slug": article.slug, "title": article.title,
            "tags": list(article.tags), "synonyms": list(article.synonyms), "body": article.body,
            "category": article.category, "url": f"{base_url}/help/{article.locale}/{article.slug}"}


def _locale_slug(call: Call) -> tuple[str, str]:
    locale, slug = call.path["locale"], call.path["slug"]
    if locale not in articles.LOCALES or not articles.valid_slug(slug) or len(slug) > 100:
        raise ApiError(404, "not_found", "no such article")
    return locale, slug


def _built(fields: dict[str, Any]) -> Article:
    try:
        return check({**fields, "tags": ", ".join(fields.get("tags", ())),
                      "synonyms": ", ".join(fields.get("synonyms", ()))})
    except ArticleInvalid as bad:
        raise ApiError(400, "invalid_message", f"body.{bad.field}: {bad}") from None


async def list_articles(call: Call) -> dict[str, Any]:
    query = select(table.c.locale, table.c.slug)
    if call.query.get("locale"):
        query = query.where(table.c.locale == call.query["locale"])
    limit = call.query["limit"]
    query = pagination.keyset(query, (table.c.locale, table.c.slug), call.query.get("cursor"), limit)
    async with call.rt.store.read() as conn:
        keys = list(await conn.execute(query))
    found = [a for a in [await articles.get(call.rt.store, k.locale, k.slug) for k in keys] if a]
    return pagination.page(found, limit, lambda a: (a.locale, a.slug),
                           lambda a: describe(a, call.base_url))


async def read_article(call: Call) -> dict[str, Any]:
    found = await articles.get(call.rt.store, *_locale_slug(call))
    if found is None:
        raise ApiError(404, "not_found", "no such article")
    return describe(found, call.base_url)


async def create_article(call: Call) -> dict[str, Any]:
    article = _built(call.body)
    if not await articles.create(call.rt.store, article):
        raise ApiError(409, "conflict", f"{article.locale}/{article.slug} exists already")
    log.info("event=article_created locale=%s slug=%s token=%s", article.locale, article.slug, call.token.id)
    return describe(article, call.base_url)


async def update_article(call: Call) -> dict[str, Any]:
    locale, slug = _locale_slug(call)
    found = await articles.get(call.rt.store, locale, slug)
    if found is None:
        raise ApiError(404, "not_found", "no such article")
    current = {"locale": locale, "slug": slug, "title": found.title, "body": found.body,
               "tags": list(found.tags), "synonyms": list(found.synonyms), "category": found.category}
    article = _built({**current, **call.body})
    if not await articles.save(call.rt.store, article):
        raise ApiError(404, "not_found", "no such article")
    log.info("event=article_saved locale=%s slug=%s token=%s", locale, slug, call.token.id)
    return describe(article, call.base_url)


_TEXT = {"title": string(200), "body": string(MAX_BODY_CHARS),
         "tags": {**_WORDS, "maxItems": MAX_TAGS, "description": "the first is the category"},
         "synonyms": {**_WORDS, "maxItems": MAX_SYNONYMS},
         "category": string(articles.MAX_CATEGORY_CHARS, description="where the help centre lists it")}
OPERATIONS = [
    Operation("GET", "/articles", "List the help articles", TAG, "read", list_articles, page(ARTICLE),
              query=(Param("locale", {"type": "string", "enum": list(articles.LOCALES)},
                           "only this language"),
                     Param("cursor", pagination.CURSOR, "the next page"),
                     Param("limit", pagination.LIMIT, "items per page"))),
    Operation("GET", "/articles/{locale}/{slug}", "Read a help article", TAG, "read", read_article, ARTICLE),
    Operation("POST", "/articles", "Create a help article (every site's help centre)", TAG, "admin",
              create_article, ARTICLE, create=True, errors=(400, 409, 422),
              body=obj({"locale": {"type": "string", "enum": list(articles.LOCALES)},
                        "slug": string(100, description="lower-case words and dashes"), **_TEXT},
                       ("locale", "slug", "title", "body", "tags"))),
    Operation("PATCH", "/articles/{locale}/{slug}", "Change a help article's text", TAG, "admin",
              update_article, ARTICLE, body=obj(_TEXT)),
]
