"""The answer, not just a link: an article's sections, the one that answers a question, and a
passage of it short enough to show under a suggestion. Pure: no I/O, no search engine."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict

from chatserver.articles import plain_text

# Headings that open a section (## and ###); chatserver/embeddings.py embeds the same sections,
# so a section's vector and its passage are one thing.
_HEADING = re.compile(r"^#{2,3}[ \t]+(.*?)[ \t]*#*[ \t]*$", re.M)
_ITEM = re.compile(r"^[ \t]{0,3}(?:[-*+]|(\d{1,3})[.)])[ \t]+")
# A line that is only bold text names what follows ("**Via the website**"): it reads as a label.
_LABEL = re.compile(r"^\*\*([^*\n]+?)\*\*[ \t]*$", re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")

# A prose passage: a few sentences, what fits in the widget's card without scrolling.
PASSAGE_CHARS = 300
# A list of steps: the first few, each cut short, and text before them only if it is a lead-in
# ("To return an item:"), not a paragraph of its own.
MAX_STEPS = 5
STEP_CHARS = 140
STEPS_CHARS = 420
LEAD_CHARS = 160
# A question's word in a section's heading says more than the same word in its text.
HEADING_WEIGHT = 2.0
# With meaning on, what the section holding most of the question's words adds to its cosine,
# and how much nearer than the best section the text before the first heading must be: it sums
# up the article, so it is near every question about it. On 22 questions written for sections
# of the shipped articles (tests/kb/sections.jsonl) the cosines alone chose 8 right, the words
# alone 14, these 15: the sections' vectors tell little apart, the words settle it.
WORDS_BY_MEANING = 0.3
INTRO_MARGIN = 0.1


@dataclass(frozen=True)
class Section:
    """A part of an article: the text before the first heading (heading None), or a heading's."""

    heading: str | None  # as plain text
    anchor: str | None  # the id of the heading on the help-centre page
    markdown: str


@dataclass(frozen=True)
class Analysed:
    """An article's sections with the terms of each (heading and text) and of each heading."""

    sections: list[Section]
    terms: list[set[str]]
    heading_terms: list[set[str]]

    @classmethod
    def of(cls, body: str, terms: Callable[[str], Iterable[str]]) -> Analysed:
        found = sections(body)
        return cls(found, [set(terms(f"{s.heading or ''}\n{plain_text(s.markdown)}")) for s in found],
                   [set(terms(s.heading or "")) for s in found])


class Passage(TypedDict):
    """What a suggestion shows of its article: plain text, rendered by clients as text."""

    heading: str | None
    anchor: str | None
    text: str
    steps: list[str]
    numbered: bool  # the steps are a numbered list


def sections(body: str) -> list[Section]:
    """Split an article's Markdown into sections; one section when it has no headings."""
    pieces = _HEADING.split(body)
    intro, rest = pieces[0], pieces[1:]
    if not rest:
        return [Section(None, None, body.strip())]
    headings = [plain_text(heading) for heading in rest[::2]]
    found = [Section(None, None, intro.strip())] if intro.strip() else []
    for heading, name, text in zip(headings, anchors(headings), rest[1::2], strict=True):
        found.append(Section(heading, name, text.strip()))
    return found


def raw_sections(body: str) -> tuple[str, list[tuple[str, str]]]:
    """Return the text before the first heading and each (heading, text) as written."""
    pieces = _HEADING.split(body)
    return pieces[0], list(zip(pieces[1::2], pieces[2::2], strict=True))


def anchor(heading: str) -> str:
    """Return a heading's id: lower-case ASCII words joined by dashes ("set-a-back-in-stock-alert")."""
    folded = unicodedata.normalize("NFKD", plain_text(heading)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-") or "section"


def anchors(headings: Iterable[str]) -> list[str]:
    """Return an id for each heading, in order; a repeated one gets -2, -3 as GitHub does."""
    seen: Counter[str] = Counter()
    found = []
    for heading in headings:
        name = anchor(heading)
        seen[name] += 1
        found.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return found


def best_section(article: Analysed, question: set[str], cosines: Sequence[float] | None = None) -> int:
    """Return the section that answers: the one holding most of the question's terms, rarer ones
    in this article counting more, or with cosines (one a section) the nearest by meaning with
    the words as a tie-break; the first section when nothing tells them apart. Return its index."""
    found = article.sections
    held = [terms & question for terms in article.terms]
    titled = [terms & question for terms in article.heading_terms]
    # Within one article a word every section uses ("order") tells no section apart.
    counts = Counter(term for terms_of in held for term in terms_of)
    weight = {term: math.log(1 + len(found) / count) for term, count in counts.items()}
    scores = [
        sum(weight[t] for t in held[i]) + (HEADING_WEIGHT - 1) * sum(weight[t] for t in titled[i])
        for i in range(len(found))
    ]
    if cosines is not None and len(cosines) == len(found):
        # Sections of one article lie close in meaning: the words settle near ties.
        best = max(scores) or 1.0
        scores = [cosines[i] + WORDS_BY_MEANING * scores[i] / best
                  - (INTRO_MARGIN if found[i].heading is None else 0.0) for i in range(len(found))]
    return max(range(len(found)), key=lambda i: (scores[i], -i))


def passage(section: Section) -> Passage:
    """Return what to show of a section: its first steps when it is mostly a list, else a few
    sentences, at most PASSAGE_CHARS."""
    markdown = _LABEL.sub(r"\1:", section.markdown)
    lead, steps, numbered = _steps(markdown)
    text = _cut(lead, LEAD_CHARS) if steps else _cut(plain_text(markdown), PASSAGE_CHARS)
    return {"heading": section.heading, "anchor": section.anchor, "text": text, "steps": steps,
            "numbered": numbered}


def _steps(markdown: str) -> tuple[str, list[str], bool]:
    """Return the lead-in, the first items of the section's first list and whether they are
    numbered; no items when the list comes after more than a lead-in (the prose answers)."""
    lines = markdown.splitlines()
    first, numbered = None, False
    for i, line in enumerate(lines):
        item = _ITEM.match(line)
        if item:
            first, numbered = i, item.group(1) is not None
            break
    if first is None:
        return "", [], False
    # The lead-in is the paragraph just above the list.
    start = first
    while start > 0 and lines[start - 1].strip():
        start -= 1
    lead = plain_text("\n".join(lines[start:first]))
    before = plain_text("\n".join(lines[:start]))
    if len(before) + len(lead) > LEAD_CHARS:
        return "", [], False
    items: list[str] = []
    for line in lines[first:]:
        if _ITEM.match(line):
            items.append(line)
        elif line.strip() and line.startswith((" ", "\t")) and items:
            items[-1] += " " + line.strip()  # an item's continued line
        elif items:
            break
    steps: list[str] = []
    total = 0
    for line in items[:MAX_STEPS]:
        step = _cut(plain_text(line), STEP_CHARS)
        if steps and total + len(step) > STEPS_CHARS:
            break
        steps.append(step)
        total += len(step)
    if len(steps) < len(items) and not steps[-1].endswith("…"):
        steps[-1] += " …"
    return lead, steps, numbered


def _cut(text: str, limit: int) -> str:
    """Cut text to whole sentences within limit; a first sentence too long is cut at a word."""
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        if len(kept) + len(sentence) + 1 > limit:
            break
        kept = f"{kept} {sentence}" if kept else sentence
    # Whole sentences, unless that leaves most of the room empty ("Opened hygiene products.").
    if len(kept) > limit // 2:
        return kept + " …"
    space = text.rfind(" ", 0, limit)
    return text[: space if space > limit // 2 else limit].rstrip(" ,;:") + "…"
