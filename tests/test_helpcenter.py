"""The public help centre pages."""

from __future__ import annotations

import httpx
import pytest

from chatserver import articles
from chatserver.articles import Article
from chatserver.store import Store
from conftest import Server


@pytest.mark.shared_server
async def test_articles_have_pages_and_search_marks_matches(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/help/en/return-an-item")
        assert page.status_code == 200
        assert "<h1>How do I return an item?</h1>" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        # Scripts from this server only (the chat widget), never inline.
        assert "script-src 'self';" in page.headers["content-security-policy"]
        dutch = await http.get("/help/nl")
        # Articles without a category are listed under their first tag.
        assert dutch.status_code == 200
        assert '<a href="/help/nl/category/bestellingen">Bestellingen</a>' in dutch.text
        found = await http.get("/help/en", params={"q": "refund klarna"})
        assert '<a href="/help/en/klarna-refund">' in found.text and "<mark>" in found.text
        assert (await http.get("/help/en/no-such-thing")).status_code == 404
        assert (await http.get("/help/xx/anything")).status_code == 404
        home = await http.get("/help", follow_redirects=False)
        assert home.status_code == 302 and home.headers["location"] == "/help/en"


async def test_hostile_article_and_query_text_is_inert(server: Server) -> None:
    store = Store(server.store_url)
    try:
        hostile = Article.build(
            slug="hostile", locale="en", title='<img src=x onerror="alert(1)">',
            body='<script>alert(1)</script>\n\n[click](javascript:alert(1))', tags=("x",),
        )
        await articles.replace_all(store, [*(await articles.all_articles(store)), hostile])
    finally:
        await store.close()
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/help/en/hostile")
        assert "<script>" not in page.text and "&lt;script&gt;" in page.text
        assert "<img" not in page.text and 'href="javascript:' not in page.text
        query = await http.get("/help/en", params={"q": "<script>alert(1)</script>"})
        assert "<script>alert" not in query.text
