"""Importing what site owners have: Markdown with only a title, and an HTML help-centre export."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
from markdown_it import MarkdownIt

from chatserver import articles
from chatserver.articles import load_articles, plain_text
from chatserver.html_articles import parse_page, slug_of
from chatserver.store import Store
from conftest import Server


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatserver", *args], capture_output=True, text=True,
                          timeout=120)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


TITLE_ONLY = {
    # What `kb index` refused before: no front matter at all, only a heading.
    "en/shipping/where-is-my-parcel.md": "# Where is my parcel?\n\nTrack your parcel with the link in "
    "the shipping mail.\n\n## No mail?\n\n- Look in your spam folder\n",
    "en/Gift Wrapping.md": "Can you wrap my gift?\n=====================\n\nWe wrap any order for 3.50.\n",
    # Front matter from another tool: its keys are ignored, quotes and YAML lists understood.
    "nl/retour.md": '---\ntitle: "Hoe stuur ik iets terug?"\ndate: 2024-05-01\nlayout: post\n'
    "category: Retouren\ntags: [retour, terugsturen]\nsynonyms:\n  - geld terug\n  - retourlabel\n"
    "---\nJe kunt binnen 30 dagen retourneren.\n",
    "notes/no-title.md": "Just some words, no heading.\n",
    "en/empty.md": "# Only a heading\n",
    "en/.drafts/hidden.md": "# Draft\n\nNot yet.\n",
}


def test_markdown_with_only_a_title_imports_and_each_skip_says_why(tmp_path: Path) -> None:
    found, problems = load_articles(write(tmp_path / "src", TITLE_ONLY))
    by_slug = {a.slug: a for a in found}
    assert sorted(by_slug) == ["gift-wrapping", "retour", "where-is-my-parcel"]
    parcel = by_slug["where-is-my-parcel"]
    assert (parcel.title, parcel.locale, parcel.category, parcel.tags) == (
        "Where is my parcel?", "en", "Shipping", ())
    assert parcel.body.startswith("Track your parcel") and "## No mail?" in parcel.body
    assert by_slug["gift-wrapping"].title == "Can you wrap my gift?"
    retour = by_slug["retour"]
    assert (retour.title, retour.locale, retour.category) == ("Hoe stuur ik iets terug?", "nl", "Retouren")
    assert retour.tags == ("retour", "terugsturen") and retour.synonyms == ("geld terug", "retourlabel")
    assert len(problems) == 2
    assert "empty.md: there is no text after the title" in problems[0]
    assert "no-title.md: no title" in problems[1]


def test_kb_index_imports_title_only_files_and_reports_the_skipped(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    source = write(tmp_path / "src", TITLE_ONLY)
    indexed = run("kb", "index", "--source", str(source), "--data-dir", data)
    assert "added 3" in indexed.stdout, indexed.stderr
    skipped = [line for line in indexed.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 2 and "no title" in indexed.stderr and "no text after the title" in indexed.stderr
    assert indexed.returncode == 1  # something was skipped: a script can tell
    found = run("kb", "search", "where is my parcel", "--locale", "en", "--json", "--data-dir", data)
    assert [hit["slug"] for hit in json.loads(found.stdout)][:1] == ["where-is-my-parcel"]


ZENDESK_PAGE = """<!DOCTYPE html>
<html dir="ltr" lang="en-US">
<head><meta charset="utf-8"><title>How do I change my delivery address? &ndash; Acme Help Center</title>
<link rel="stylesheet" href="/theme.css"><style>body { color: red }</style>
<script>window.analytics = "track everything";</script></head>
<body>
<header class="header"><a href="/hc/en-us">Acme Help Center</a>
<nav><a href="/hc/signin">Sign in</a></nav></header>
<main role="main"><div class="container">
<nav class="sub-nav"><ol class="breadcrumbs"><li><a href="/hc">Acme</a></li><li>Orders</li></ol></nav>
<article class="article">
  <header class="article-header"><h1 title="How do I change my delivery address?" class="article-title">
    How do I change my delivery address?</h1></header>
  <section class="article-info"><div class="article-body">
    <p>You can change the address <strong>until we ship</strong> your order.</p>
    <h2>In your account</h2>
    <ol><li>Open <em>My orders</em>.</li>
    <li>Choose <a href="https://acme.example/orders">the order</a>.</li></ol>
    <h3>After shipping</h3>
    <ul><li>Ask the carrier to redirect it</li>
    <li>See <a href="../Shipping/360004-Track-a-parcel.html">tracking</a></li></ul>
    <pre><code>Order number: 12345
Postcode: 1234 AB</code></pre>
  </div></section>
  <footer><div class="article-votes">Was this article helpful? <button>Yes</button></div></footer>
</article>
<aside class="article-sidebar"><h3>Related articles</h3><ul><li>Returns</li></ul></aside>
</div></main>
<footer class="footer">Powered by Zendesk</footer>
<script src="/hc/theming_assets/script.js"></script>
</body></html>
"""

STATIC_PAGE = """<html lang="nl"><head><title>Retourneren | Winkel</title></head><body>
<nav>Menu Home Contact</nav>
<div class="content"><p>Stuur het artikel binnen 30 dagen terug.</p></div>
</body></html>"""


def test_an_html_export_imports_titles_text_and_categories(tmp_path: Path) -> None:
    export = write(tmp_path / "export", {
        "en-us/Orders/360001234567-How-do-I-change-my-delivery-address.html": ZENDESK_PAGE,
        "Returns/retourneren/index.html": STATIC_PAGE,
        "Returns/nav-only.html": "<title>Menu</title><body><nav>Home</nav><script>x()</script></body>",
        "assets/theme.css": "body {}",
    })
    found, problems = load_articles(export)
    by_slug = {a.slug: a for a in found}
    assert sorted(by_slug) == ["how-do-i-change-my-delivery-address", "retourneren"]
    page = by_slug["how-do-i-change-my-delivery-address"]
    assert (page.title, page.locale, page.category) == (
        "How do I change my delivery address?", "en", "Orders")
    assert page.body.splitlines()[0] == "You can change the address **until we ship** your order."
    assert "## In your account" in page.body and "### After shipping" in page.body
    assert "1. Open *My orders*." in page.body
    assert "2. Choose [the order](https://acme.example/orders)." in page.body
    assert "- See [tracking](track-a-parcel)" in page.body  # another article of the export, by slug
    assert "```\nOrder number: 12345\nPostcode: 1234 AB\n```" in page.body
    for chrome in ("Sign in", "Related articles", "Powered by", "helpful", "analytics", "color: red", "Acme"):
        assert chrome not in page.body, chrome
    nl = by_slug["retourneren"]
    assert (nl.title, nl.locale, nl.category) == ("Retourneren", "nl", "Returns")
    assert nl.body == "Stuur het artikel binnen 30 dagen terug." and "Menu" not in nl.body
    assert len(problems) == 1 and "nav-only.html: the page has no article text" in problems[0]


def test_page_text_that_looks_like_markdown_stays_text() -> None:
    page = parse_page("<h1>T</h1><p># not a heading * [x](y) _z_</p><p>1. not a list</p>")
    assert page.title == "T"
    rendered = MarkdownIt("commonmark", {"html": False}).render(page.body)
    assert rendered == "<p># not a heading * [x](y) _z_</p>\n<p>1. not a list</p>\n"
    assert "\\" not in plain_text(page.body)  # the escapes are not words to search
    assert slug_of("360001234567-How-do-I-return") == "how-do-i-return" and slug_of("FAQ_2024") == "faq-2024"


HOSTILE = """<html><body><article>
<h1>Safe title<img src=x onerror="alert('title')"></h1>
<p onclick="alert(1)">Click <a href="javascript:alert(2)">here</a> or <a href=" JaVaScRiPt:alert(3)">there</a>
or <a href="data:text/html,<script>alert(4)</script>">data</a>.</p>
<script>alert(5)</script><style>*{display:none}</style><iframe src="https://evil.example"></iframe>
<svg onload="alert(6)"><text>svg text</text></svg>
<p>&lt;script&gt;alert(7)&lt;/script&gt; and &lt;img src=x onerror=alert(8)&gt; as words</p>
<form action="https://evil.example"><input name="card"></form>
<img src="x" onerror="alert(9)" alt="a picture">
</article></body></html>"""


async def test_hostile_html_in_an_import_never_reaches_a_page_as_active_content(
    server: Server, tmp_path: Path
) -> None:
    found, problems = load_articles(write(tmp_path / "export", {"en/hostile.html": HOSTILE}))
    assert problems == [] and [a.slug for a in found] == ["hostile"]
    store = Store(server.store_url)
    try:
        await articles.replace_all(store, [*(await articles.all_articles(store)), *found])
    finally:
        await store.close()
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/help/en/hostile")
    assert page.status_code == 200
    shown = re.search(r"<article>.*</article>", page.text, re.S)
    assert shown is not None
    article = shown.group(0)
    assert "<h1>Safe title</h1>" in article
    tags = re.findall(r"<[^>]*>", article)
    assert {re.match(r"</?(\w+)", tag).group(1) for tag in tags} <= {  # type: ignore[union-attr]
        "article", "h1", "p", "a"}, tags
    for tag in tags:
        assert not re.search(r"\son\w+\s*=|javascript:|data:", tag, re.I), tag
    # What was text in the page is still text, shown escaped.
    assert "&lt;script&gt;alert(7)&lt;/script&gt;" in article and "a picture" in article
    assert "Click here or there or data." in re.sub(r"<[^>]+>", "", article).replace("\n", " ")
