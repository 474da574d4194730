"""What the chat view asks over HTTP besides the socket: help articles to send as links."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chatserver import articles, protocol, suggestions
from chatserver.console import pages

# An agent looks a little further than a visitor is shown (three), still only confident hits.
AGENT_RESULTS = 5


def _json(data: object, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status, headers={"Cache-Control": "no-store"})


async def search_articles(request: Request) -> Response:
    """GET /console/api/articles?q=...&locale=en|nl: help articles that answer q, as links."""
    who = await pages.viewer(request)
    if who is None:
        return _json(protocol.error("unauthorized", "sign in first"), 401)
    query = request.query_params.get("q", "").strip()[: protocol.MAX_QUERY_CHARS]
    locale = request.query_params.get("locale") or None
    if locale is not None and locale not in articles.LOCALES:
        return _json(protocol.error(
            "invalid_message", f"'locale' must be one of {', '.join(articles.LOCALES)}"), 400)
    if not query:
        return _json({"query": "", "articles": []})
    hits = await pages.runtime(request).suggester.suggest(query, locale, AGENT_RESULTS)
    base = str(request.base_url).rstrip("/")
    return _json({"query": query, "articles": suggestions.as_links(hits, base)})
