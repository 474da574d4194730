"""Admins edit help articles in the console; every change is searchable within seconds."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from browser import expect

from chatserver.console.articles_admin import ArticleInvalid, check
from conftest import PASSWORD, Server

SEEN_MS = 8000
# Each process re-indexes every 3 s (suggestions.REFRESH_SECONDS); this leaves room.
INDEXED_WITHIN = 10.0
WORD = "zwobbelkruk"


def form(**changes: str) -> dict[str, str]:
    return {"slug": "gift-wrap", "locale": "en", "title": "Gift wrapping", "tags": "orders",
            "synonyms": "", "body": "We wrap gifts.", **changes}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slug": "../etc/passwd"}, "slug"), ({"slug": "Gift Wrap"}, "slug"), ({"slug": ""}, "slug"),
        ({"slug": "a--b"}, "slug"), ({"locale": "de"}, "locale"), ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"), ({"body": ""}, "body"), ({"body": "x" * 50_001}, "body"),
        ({"tags": ""}, "tags"), ({"tags": ",".join(f"t{i}" for i in range(11))}, "tags"),
    ],
)
def test_article_forms_are_checked_field_by_field(changes: dict[str, str], field: str) -> None:
    with pytest.raises(ArticleInvalid) as refused:
        check(form(**changes))
    assert refused.value.field == field


def test_a_good_article_form_is_an_article() -> None:
    article = check(form(tags="Orders, gifts, orders", synonyms="present, wrapping paper",
                         title=" Gift   wrapping ", body="We wrap gifts.\r\nFor free."))
    assert (article.slug, article.title) == ("gift-wrap", "Gift wrapping")
    assert article.tags == ("Orders", "gifts")
    assert article.synonyms == ("present", "wrapping paper")
    assert article.body == "We wrap gifts.\nFor free."


async def _searchable(http: httpx.AsyncClient, query: str, slug: str, present: bool) -> bool:
    deadline = time.monotonic() + INDEXED_WITHIN
    while time.monotonic() < deadline:
        found = (await http.get("/console/api/articles", params={"q": query, "locale": "en"})).json()
        if any(a["slug"] == slug for a in found["articles"]) == present:
            return True
        await asyncio.sleep(0.25)
    return False


async def test_an_admin_creates_edits_and_deletes_an_article(server: Server, browser: Any) -> None:
    await server.add_agent("admin@example.com", role="admin")
    page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(SEEN_MS)
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(f"{server.http}/console/signin?next=/console/admin/articles")
    await page.fill("#email", "admin@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{server.http}/console/admin/articles")
    assert await page.locator("#article-table tbody tr").count() >= 80  # the shipped help centre

    await page.locator("#article-new").click()
    await page.fill("#a-title", f"The {WORD} guarantee")
    await page.fill("#a-slug", "../secret")
    await page.fill("#a-tags", "warranty")
    body = f"Every {WORD} comes with a **lifetime** guarantee.\n\nJust write to us."
    await page.fill("#a-body", body)
    await page.locator("#article-save").click()
    # Refused with the reason; what was typed is still there.
    await expect(page.locator("#form-error")).to_contain_text("slug")
    await expect(page.locator("#a-slug")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#a-body")).to_have_value(body)
    await page.fill("#a-slug", "zwobbelkruk-guarantee")
    await page.locator("#article-save").click()
    await page.wait_for_url(re.compile(r".*/console/admin/articles/en/zwobbelkruk-guarantee\?saved=1"))
    await expect(page.locator(".notice")).to_contain_text("Article saved.")
    await expect(page.locator("#a-slug")).to_have_attribute("readonly", "")

    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=server.http, cookies=cookies) as http:
        assert await _searchable(http, f"{WORD} guarantee", "zwobbelkruk-guarantee", True)
        public = await http.get("/help/en/zwobbelkruk-guarantee")
        assert public.status_code == 200 and "lifetime" in public.text

        # Edit: the new text is what the help centre shows and the search finds.
        await page.fill("#a-body", "Every zwobbelkruk is repaired for free, forever.")
        await page.locator("#article-save").click()
        await expect(page.locator(".notice")).to_contain_text("Article saved.")
        assert "repaired for free" in (await http.get("/help/en/zwobbelkruk-guarantee")).text

        # Delete (after a confirmation): gone from the list, the help centre and the index.
        await page.locator("#article-delete").click()
        await page.wait_for_url(re.compile(r".*/console/admin/articles\?deleted=1"))
        await expect(page.locator(".notice")).to_have_text("Article deleted.")
        await expect(page.locator("#article-table a", has_text=WORD)).to_have_count(0)
        assert (await http.get("/help/en/zwobbelkruk-guarantee")).status_code == 404
        assert await _searchable(http, f"{WORD} guarantee", "zwobbelkruk-guarantee", False)
        assert (await http.get("/console/admin/articles/en/zwobbelkruk-guarantee")).status_code == 404


async def test_only_admins_edit_articles_and_only_with_the_csrf_token(server: Server) -> None:
    await server.add_agent("ann@example.com")
    await server.add_agent("admin@example.com", role="admin")
    async with httpx.AsyncClient(base_url=server.http) as http:
        await http.post("/api/v1/login", json={"email": "ann@example.com", "password": PASSWORD})
        assert (await http.get("/console/admin/articles")).status_code == 403
        refused = await http.post("/console/admin/articles/new", data=form())
        assert refused.status_code == 403
    async with httpx.AsyncClient(base_url=server.http) as http:
        await http.post("/api/v1/login", json={"email": "admin@example.com", "password": PASSWORD})
        page = await http.get("/console/admin/articles/new")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        # Without the token nothing is stored.
        assert (await http.post("/console/admin/articles/new", data=form())).status_code == 403
        assert (await http.get("/console/admin/articles/en/gift-wrap")).status_code == 404
        made = await http.post("/console/admin/articles/new", data={**form(), "csrf": token[1]})
        assert made.status_code == 303
        # A slug that is taken: a clear error, the stored article untouched.
        again = await http.post("/console/admin/articles/new",
                                data={**form(body="Other text"), "csrf": token[1]})
        assert again.status_code == 400 and "already exists" in again.text
        assert "We wrap gifts." in (await http.get("/console/admin/articles/en/gift-wrap")).text
        # Path tricks are a missing article.
        assert (await http.get("/console/admin/articles/en/..%2Fetc")).status_code == 404
        assert (await http.get("/console/admin/articles/xx/gift-wrap")).status_code == 404
