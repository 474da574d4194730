"""The answer, not just a link: which section answers, and what of it a suggestion shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatserver import embeddings, kb, passages
from chatserver.articles import DEFAULT_SOURCE, Article, load_articles, parse_article

STOCK = """Is the product you want sold out? Let us tell you when it's available again.

## Set a back-in-stock alert

1. Go to the product page.
2. Click **Email me when it's back in stock**.
3. Enter your email address.

As soon as the product is available again, you receive an email.

## When will it be back?

We can't always give an exact date, because it depends on our suppliers. If an expected date is
known, it's shown on the product page.

## Permanently unavailable?

Some products are discontinued. In that case, the product page says so.
"""


def choose(locale: str, question: str, body: str, cosines: list[float] | None = None) -> passages.Passage:
    article = passages.Analysed.of(body, lambda text: kb.terms(locale, text))
    at = passages.best_section(article, kb.terms(locale, question), cosines)
    return passages.passage(article.sections[at])


def test_a_how_to_question_gets_the_steps_with_their_anchor() -> None:
    answer = choose("en", "how do i get an email alert for a product", STOCK)
    assert answer == {
        "heading": "Set a back-in-stock alert", "anchor": "set-a-back-in-stock-alert", "text": "",
        "steps": ["Go to the product page.", "Click Email me when it's back in stock.",
                  "Enter your email address."],
        "numbered": True,
    }


def test_the_section_whose_heading_holds_the_question_answers_in_a_few_sentences() -> None:
    answer = choose("en", "is it discontinued", STOCK)
    assert answer["anchor"] == "permanently-unavailable" and answer["steps"] == []
    assert answer["text"] == "Some products are discontinued. In that case, the product page says so."
    # Nothing in the question tells the sections apart: the article's opening answers.
    assert choose("en", "sneakers", STOCK)["text"].startswith("Is the product you want sold out?")


def test_with_meaning_on_the_nearest_section_by_its_vector_answers() -> None:
    # One cosine a section, in order: intro, alert, when, discontinued.
    answer = choose("en", "alert", STOCK, cosines=[0.1, 0.2, 0.9, 0.3])
    assert answer["anchor"] == "when-will-it-be-back"
    # Sections of one article lie close in meaning: the question's words settle a near tie.
    answer = choose("en", "email alert", STOCK, cosines=[0.40, 0.40, 0.43, 0.30])
    assert answer["anchor"] == "set-a-back-in-stock-alert"


def test_a_dutch_article_answers_with_its_steps_and_folded_anchor() -> None:
    article = parse_article(DEFAULT_SOURCE / "nl" / "cadeau-retourneren.md")
    answer = choose("nl", "hoe werkt het retourformulier voor een cadeau", article.body)
    assert answer["heading"] == "Zo werkt het" and answer["anchor"] == "zo-werkt-het"
    assert answer["numbered"] and answer["steps"][0] == "Ga naar het retourformulier op onze site."
    assert passages.anchors(["Wat kost één retour?", "Wat kost één retour?", "!!"]) == [
        "wat-kost-een-retour", "wat-kost-een-retour-2", "section",
    ]


def test_long_text_is_cut_at_a_sentence_and_long_lists_after_a_few_steps() -> None:
    long = "## Why\n\n" + " ".join(f"Sentence number {i} says something useful here." for i in range(20))
    text = choose("en", "why", long)["text"]
    assert len(text) <= passages.PASSAGE_CHARS + 2 and text.endswith("here. …")
    steps = "## Steps\n\n" + "\n".join(f"{i}. Step {i}" for i in range(1, 10))
    shown = choose("en", "steps", steps)["steps"]
    assert len(shown) == passages.MAX_STEPS and shown[-1] == "Step 5 …"
    # A list after a paragraph of its own is not the answer: the paragraph is.
    prose = "## Sizes\n\n" + "Our sizes run small, so pick one size up. " * 6 + "\n\n- S\n- M\n"
    assert choose("en", "sizes", prose)["text"].startswith("Our sizes run small")


def test_an_article_without_headings_is_one_section_and_markup_is_plain_text() -> None:
    answer = choose("en", "refund", "Refunds take **5 days** <script>x</script>. See [this](http://x).")
    assert answer == {"heading": None, "anchor": None, "text": "Refunds take 5 days x . See this.",
                      "steps": [], "numbered": False}


def test_the_words_pick_the_answering_section_of_most_shipped_articles() -> None:
    # tests/kb/sections.jsonl: 22 questions, each written for one section of a shipped article
    # after reading its headings (a small, friendly set: a floor, not a score); kb.search hands
    # best_section the question's stems that the article holds.
    found, _ = load_articles(Path(DEFAULT_SOURCE))
    by_slug = {article.slug: article for article in found}
    lines = (Path(__file__).parent / "kb" / "sections.jsonl").read_text().splitlines()
    right = 0
    for item in map(json.loads, lines):
        article = by_slug[item["slug"]]
        analysed = passages.Analysed.of(article.body, lambda text, at=article.locale: kb.terms(at, text))
        asked = kb.terms(article.locale, item["question"]) & kb.terms(article.locale, article.body)
        right += analysed.sections[passages.best_section(analysed, asked)].anchor == item["anchor"]
    assert right >= 14, f"{right} of {len(lines)}"


@pytest.mark.parametrize("locale", ["en", "nl"])
def test_every_shipped_article_has_one_vector_a_section(locale: str) -> None:
    # kb.py picks a section by the rows embeddings.parts() made: they must line up.
    found, problems = load_articles(Path(DEFAULT_SOURCE) / locale)
    assert not problems
    for article in found:
        split = passages.sections(article.body)
        rows = len(embeddings.parts(article)) - 2
        assert rows == (len(split) if split[0].heading is not None or len(split) > 1 else 0), article.slug
        for section in split:
            shown = passages.passage(section)
            assert shown["text"] or shown["steps"], (article.slug, section.heading)


def test_search_gives_each_hit_its_passage(tmp_path: Path) -> None:
    index = kb.KnowledgeBase(tmp_path)
    try:
        index.sync([Article.build(slug="stock", locale="en", title="Back in stock alerts",
                                  tags=("stock",), body=STOCK)])
        hit = index.search("how do i set a back in stock alert", "en")[0]
    finally:
        index.close()
    assert hit.passage is not None and hit.passage["anchor"] == "set-a-back-in-stock-alert"
