"""Search over help articles: a Whoosh index per locale, suggestions with a confidence cut-off."""

from __future__ import annotations

import heapq
import json
import math
import re
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import index, scoring
from whoosh.analysis import Analyzer, CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.lang import stemmer_for_language
from whoosh.lang.stopwords import stoplists
from whoosh.support.charset import accent_map

from chatserver import embeddings, passages
from chatserver.articles import LOCALES, Article, plain_text, split_list
from chatserver.person_request import asks_for_person

# Bump when analysis or schema change: Whoosh keeps the analyzer pickled inside an index, so a
# new version starts an empty index beside the old one (which is deleted) and sync() fills it.
INDEX_VERSION = 2

# What search() shows. Calibrated with a grid search over these constants, UNSEEN_DF and
# COVERAGE_POWER on the dev halves of tests/kb/independent-*.jsonl (written from article titles
# only), for the most questions shown their article with at most 1 in 20 out-of-scope
# questions shown anything, hit@3 of the older sets kept, and at most 3 of the 52 off-topic
# lines of tests/test_kb.py answered: shown@3 went from 0.67 to 0.81 (en) and 0.54 to 0.69
# (nl), 1 of 30 out-of-scope questions a language shown articles ("what time is it").
#
# Confidence is the share of a question's informative words (weighted by rarity) that an
# article matches, a word only in its body counting BODY_ONLY_COVERAGE. Since the score is
# BM25 times confidence squared, the score floor below does most of the cutting; this only
# turns away an article that matches a fifth of the question.
MIN_CONFIDENCE = 0.2
# A best score under this share of the weight of a word found in one article means the match
# is chance: a common word ("first", "yes", "start"), or a question mostly about something no
# article mentions. With the shipped 58 articles a language the floor is 2.04.
MIN_SCORE_SHARE = 0.5
# A second or third suggestion must reach this share of the best one's score, so one strong
# answer is not padded with articles that merely share a word like "order".
MIN_SHARE_OF_BEST = 0.2

# Ranking: BM25 over fields, then re-ranked by confidence**COVERAGE_POWER (Lucene's old
# "coord"), because BM25 alone lets an article repeating "order" beat the one holding the
# question's rare word. Field boosts: a title or synonym match says far more than the body.
FIELD_BOOSTS = {"title": 3.0, "tags": 2.0, "synonyms": 2.5, "body": 1.0}
_TOPICAL = ("title", "tags", "synonyms")
BODY_ONLY_COVERAGE = 0.6
COVERAGE_POWER = 2.0
RERANK_DEPTH = 20
# An article with a synonym the question holds whole, stop words and all ("where is my
# order" is order-status, though "order" alone is every article's word).
PHRASE_BOOST = 2.0
# Meaning (chatserver/embeddings.py) blended with the words: the weight of the cosine, and how
# many articles nearest by meaning join the ranking.
MEANING_WEIGHT = 0.5
MEANING_DEPTH = 20
# With meaning, what is shown: the best article when its cosine, plus a little for its words'
# score (as a share of the floor below, capped at WORDS_CAP) and its coverage, reaches the
# locale's threshold; then those within MEANING_SHARE_OF_BEST of its blended score. Weights and
# thresholds, per locale as (words, coverage, threshold), from a grid search on the dev halves
# of tests/kb/independent-*.jsonl for the most questions shown their article with at most 1 of
# 30 out-of-scope questions and 1 of the off-topic lines of tests/test_kb.py a language shown
# anything. Dutch cosines run lower, and its words tell less apart, so Dutch leans on meaning
# and coverage alone.
MEANING_GATE = {"en": (0.1, 0.3, 0.52), "nl": (0.0, 0.3, 0.32)}
WORDS_CAP = 2.0
MEANING_SHARE_OF_BEST = 0.5
COMMON_BODY_SHARE = 0.5
# Cached term scores (see _View.scores), counted in postings: some 20 MB at most.
SCORE_CACHE_POSTINGS = 200_000
# Articles whose sections are kept analysed for passages (see _passage): some 15 MB at most
# (14 KB an article for the shipped ones).
SECTION_CACHE_ARTICLES = 1_000

# Typos: one edit for words of 5+ letters, two for 10+; a four-letter word only gets back a
# dropped letter ("ordr"), since one edit makes "cost" into "lost" and "post". A fix counts
# less than a word the visitor actually typed.
FUZZY_MIN_CHARS = 5
FUZZY_DIST2_CHARS = 10
FUZZY_WEIGHT = 0.7
# Document frequency assumed for a word no article contains (see _words): a tenth of one
# article's, so "bikes" in "do you sell bikes" outweighs the "sell" an article has. It also
# outweighs the product in "ik wil mijn schoenen terugsturen", which no article names: words
# cannot tell a product apart from an unanswered subject, and the grid found heavy better.
UNSEEN_DF = 0.1

# Questions are bounded where they enter: a pasted e-mail is not a question.
MAX_QUESTION_CHARS = 500
# Suggestions a visitor is shown at most (search()'s default limit, the widget's three cards).
SHOWN = 3
MAX_QUERY_WORDS = 24
SNIPPET_CHARS = 160
MARK_OPEN, MARK_CLOSE = "[[", "]]"

# Another process (`chatserver kb index`) may commit to the index; checking costs a directory
# listing, too much for every keystroke of a visitor, so it happens at most this often.
STALE_CHECK_SECONDS = 2.0
PROGRESS_EVERY = 100
# A second process syncing at start-up holds the write lock for a few seconds at most.
WRITE_LOCK_TIMEOUT = 60.0

# Words that carry no topic in a customer's question, on top of Whoosh's stop lists: question
# words, greetings, politeness, modal verbs and chat filler ("guys", "ff"). Dutch "laat" is
# mostly the light verb "laten" ("laten inpakken") or "hoe laat" (what time), and its stem
# is the same as "te laat"'s: as a topic word it matched every "laten" title.
_EXTRA_STOPS = {
    "en": """hi hello hey dear please pls thanks thank thx cheers can could would may might must
        shall will im ive id youre dont doesnt didnt cant cannot wont isnt whats wheres hows whos
        there anyone someone somebody something anything also still already just really much many
        wanna like guys ok okay""",
    "nl": """hoe wat waar wanneer waarom welke welk wie hoeveel hallo hoi hey beste goedemorgen
        goedemiddag goedenavond graag alsjeblieft alstublieft aub svp bedankt dank groet groetjes
        kun kunt kunnen kan mag mogen moet moeten zou zouden wil wilt willen jullie jij jouw wij we
        me mn ik mijn je u uw even eigenlijk gewoon nou toch wel al nog ben bent is zijn was heb
        hebt heeft hebben word wordt worden er iemand iets ff effe oke laat laten""",
}
_STOPWORDS = {
    locale: frozenset(stoplists[locale]) | frozenset(_EXTRA_STOPS[locale].split()) for locale in LOCALES
}

# Function words that tell the languages apart; words on both lists ("of", "we", "me") are
# dropped so they cannot vote.
_MARKER_WORDS = {
    "en": """the a an and or my your you i me we it this that to of for with from how what where
        when why which who can could do does did are was not have has get got will would should
        there please if at on any but been up cant dont doesnt didnt isnt wont im want need""",
    "nl": """de het een en of mijn mn jouw je jij ik wij we ons onze u uw hoe wat waar wanneer
        waarom welke wie kan kun kunt kunnen doe doet niet geen heb heeft hebben wordt worden
        zijn ben bent naar van voor met bij om te ook nog wel dat dit deze mag moet zou graag
        er op aan als maar dan al nu hij ze""",
}
_SHARED_MARKERS = frozenset.intersection(*(frozenset(w.split()) for w in _MARKER_WORDS.values()))
_LOCALE_MARKERS = {loc: frozenset(words.split()) - _SHARED_MARKERS for loc, words in _MARKER_WORDS.items()}

# Whoosh's default token pattern, so snippets cut words exactly where the index did.
_TOKEN = re.compile(r"\w+(?:\.?\w+)*")


@dataclass(frozen=True)
class Hit:
    slug: str
    locale: str
    title: str
    snippet: str
    score: float
    passage: passages.Passage | None = None  # the section that answers, shown under the title


# -- text and analysis ---------------------------------------------------------------------------------

def _analyzer(locale: str, stem: bool) -> Analyzer:
    # Accents fold before stemming so "ideeën" meets "ideeen"; stop words go at index and query
    # time alike, so question words never match anything.
    chain = RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map) | StopFilter(_STOPWORDS[locale])
    return chain | StemFilter(lang=locale) if stem else chain


_ANALYZERS = {locale: _analyzer(locale, stem=True) for locale in LOCALES}
# Synonyms are phrases a visitor types ("where is my order"); stop words drop out of the index,
# so matching them whole needs every word, stemmed.
_PHRASE_ANALYZERS = {
    locale: RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map) | StemFilter(lang=locale)
    for locale in LOCALES
}


def _schema(locale: str) -> Schema:
    text = _ANALYZERS[locale]
    return Schema(
        slug=ID(stored=True, unique=True),
        title=TEXT(analyzer=text, stored=True),
        tags=TEXT(analyzer=text, stored=True),
        synonyms=TEXT(analyzer=text, stored=True),
        body=TEXT(analyzer=text, phrase=False),
        # Every word as written, never searched: its lexicon is where typos get fixed (people
        # misspell words, not stems: "arived" is one edit from "arrived", two from "arriv").
        spelling=TEXT(analyzer=_analyzer(locale, stem=False), phrase=False),
        plain=STORED(),
        markdown=STORED(),
        content_hash=STORED(),
    )


def _document(article: Article) -> dict[str, str]:
    plain = plain_text(article.body)
    return {
        "slug": article.slug,
        "title": article.title,
        "tags": ", ".join(article.tags),
        "synonyms": ", ".join(article.synonyms),
        "body": plain,
        "spelling": " ".join([article.title, *article.tags, *article.synonyms, plain]),
        "plain": plain,
        "markdown": article.body,
        "content_hash": article.content_hash,
    }


def _stems(locale: str, text: str) -> list[tuple[str, str]]:
    """Return (stem, folded word) for each word of text that is not a stop word."""
    return [
        (token.text, _fold(text[token.startchar : token.endchar]))
        for token in _ANALYZERS[locale](text, chars=True)
    ]


def _fold(word: str) -> str:
    word = word.lower()
    return word if word.isascii() else word.translate(accent_map)


def detect_locale(text: str) -> str:
    """Guess "nl" or "en" from function words; "en" when nothing decides."""
    votes = _locale_votes(text)
    return "nl" if votes["nl"] > votes["en"] else "en"


def _locale_votes(text: str) -> dict[str, int]:
    words = re.findall(r"\w+", text.lower())
    return {locale: sum(w in _LOCALE_MARKERS[locale] for w in words) for locale in LOCALES}


# -- typo tolerance ------------------------------------------------------------------------------------


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _distance(a: str, b: str) -> int:
    """Return the optimal-string-alignment distance: a swap of neighbours counts as one edit."""
    before, previous = [0] * (len(b) + 1), list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]


class _Vocabulary:
    """An index's words and stems, with a map from each word's deletions back to the word."""

    def __init__(self, locale: str, words: Iterable[str]) -> None:
        stem = stemmer_for_language(locale)
        self.stem_of: dict[str, str] = {}
        self.surfaces: dict[str, list[str]] = defaultdict(list)  # stem -> words as written
        # Symmetric deletion (as in SymSpell): a word one edit from an indexed word shares a key
        # with it, so candidates come from dictionary look-ups instead of a scan.
        self._by_delete: dict[str, list[str]] = defaultdict(list)
        for word in words:
            self.stem_of[word] = stem(word)
            self.surfaces[self.stem_of[word]].append(word)
            for key in _deletes(word) | {word}:
                self._by_delete[key].append(word)

    def near(self, word: str) -> list[str]:
        """Return the closest indexed words within the typo budget for the word's length."""
        if len(word) < FUZZY_MIN_CHARS:
            found = self._by_delete.get(word, []) if len(word) == FUZZY_MIN_CHARS - 1 else []
            return sorted(w for w in found if len(w) == len(word) + 1)[:3]
        budget = 2 if len(word) >= FUZZY_DIST2_CHARS else 1
        keys = {word} | _deletes(word)
        if budget == 2:
            keys |= {d for key in _deletes(word) for d in _deletes(key)}
        distances: dict[str, int] = {}
        for key in keys:
            for candidate in self._by_delete.get(key, ()):
                # Typos seldom hit the first letter; requiring it halves the false friends.
                if candidate[0] == word[0] and candidate not in distances:
                    distances[candidate] = _distance(word, candidate)
        best = min(distances.values(), default=budget + 1)
        return sorted(w for w, d in distances.items() if d == best <= budget)[:3]


# Stop words spelt wrong are not words no article uses (which would weigh most of all).
_STOP_TYPOS = {locale: _Vocabulary(locale, _STOPWORDS[locale]) for locale in LOCALES}


# -- the index -----------------------------------------------------------------------------------------


class _View:
    """One consistent look at a locale's index: searcher, vocabulary and cached postings."""

    def __init__(self, ix: Any, locale: str) -> None:
        self.searcher = ix.searcher(weighting=_weighting())
        self.reader = self.searcher.reader()
        self.doc_count = max(self.searcher.doc_count(), 1)
        words = (_text(term) for term in self.reader.lexicon("spelling"))
        self.vocabulary = _Vocabulary(locale, words)
        self.phrases: dict[tuple[str, ...], set[int]] = defaultdict(set)
        self.slug_of: dict[int, str] = {}
        for docnum, fields in self.reader.iter_docs():
            self.slug_of[docnum] = fields["slug"]
            for synonym in split_list(fields["synonyms"]):
                phrase = _phrase(locale, synonym)
                if len(phrase) > 1:
                    self.phrases[phrase].add(docnum)
        self.longest_phrase = max(map(len, self.phrases), default=0)
        self.docnum = {slug: docnum for docnum, slug in self.slug_of.items()}
        # Articles' sections, their terms and passages, on first use (the view is rebuilt when
        # an article changes): analysing an article's text costs more than the search itself.
        self.locale = locale
        self.sections: dict[str, passages.Analysed] = {}
        self.passages: dict[tuple[str, int], passages.Passage] = {}
        self._scores: dict[tuple[str, str], dict[int, float]] = {}
        self._cached = 0

    def scores(self, fieldname: str, stem: str) -> dict[int, float]:
        """Return each document's BM25F score for the stem in the field.

        A term's score does not depend on the query, and visitors ask about the same few
        things, so scores are cached until the index changes: summing cached scores costs a
        fraction of Whoosh's matcher tree, which scores every posting of every query anew.
        """
        key = (fieldname, stem)
        found = self._scores.get(key)
        if found is None:
            found = {}
            if key in self.reader:
                matcher = self.searcher.postings(fieldname, stem)
                while matcher.is_active():
                    found[matcher.id()] = matcher.score()
                    matcher.next()
            self._cached += len(found) + 1
            if self._cached > SCORE_CACHE_POSTINGS:
                self._scores.clear()
                self._cached = len(found) + 1
            self._scores[key] = found
        return found

    def doc_frequency(self, stem: str) -> int:
        return max(int(self.reader.doc_frequency(name, stem)) for name in FIELD_BOOSTS)


def _weighting() -> Any:
    # Titles, tags and synonyms are a few words long: normalising their length hard would punish
    # a precise title for one extra word.
    return scoring.BM25F(B=0.75, K1=1.2, title_B=0.3, tags_B=0.2, synonyms_B=0.2)


def _text(term: str | bytes) -> str:
    return term.decode() if isinstance(term, bytes) else term


class _LocaleIndex:
    """One locale's Whoosh index and the view searches read from."""

    def __init__(self, root: Path, locale: str) -> None:
        self.locale = locale
        path = root / f"{locale}-v{INDEX_VERSION}"
        for stale in root.glob(f"{locale}-v*"):
            if stale != path and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        self.ix = _open_or_create(path, locale)
        self.view = _View(self.ix, locale)
        self.checked = time.monotonic()

    def is_stale(self) -> bool:
        """Tell whether another writer committed, checking at most every STALE_CHECK_SECONDS."""
        now = time.monotonic()
        if now - self.checked < STALE_CHECK_SECONDS:
            return False
        self.checked = now
        return not self.view.searcher.up_to_date()


def _open_or_create(path: Path, locale: str) -> Any:
    try:
        if index.exists_in(str(path)):
            return index.open_dir(str(path))
    except Exception:  # Whoosh raises many kinds; the index is derived data, so start afresh
        pass  # unreadable: half-copied, written by another platform, or pickling a lost class
    return index.create_in(str(path), _schema(locale))


class KnowledgeBase:
    """Whoosh indexes of help articles, one per locale, searched from any thread."""

    def __init__(self, index_dir: Path, meaning: bool = False) -> None:
        self._indexes = {locale: _LocaleIndex(index_dir, locale) for locale in LOCALES}
        # Sentence vectors beside the words (chatserver/embeddings.py); off, search is Whoosh's.
        self._cache = embeddings.VectorCache(index_dir) if meaning else None
        self._vectors = {locale: embeddings.Vectors.empty() for locale in LOCALES}
        # Whoosh searchers read through shared file handles, so one search runs at a time. A
        # search takes a millisecond or two, all of it holding the GIL anyway.
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()

    @property
    def searches_meaning(self) -> bool:
        return self._cache is not None

    def close(self) -> None:
        """Close the open searchers; end an embedding still running."""
        if self._cache is not None:
            embeddings.stop()
        with self._lock:
            for idx in self._indexes.values():
                idx.view.searcher.close()

    def sync(
        self, articles: Iterable[Article], progress: Callable[[str], None] | None = None,
        embed_missing: bool = True,
    ) -> dict[str, int]:
        """Make the index hold exactly these articles; return how many were added, updated, ...

        Without embed_missing, articles whose vectors are not cached yet are searched by their
        words only, until a sync that embeds them.
        """
        wanted: dict[str, dict[str, Article]] = {locale: {} for locale in LOCALES}
        for article in articles:
            if article.locale not in wanted:
                raise ValueError(f"article {article.slug!r}: unsupported locale {article.locale!r}")
            wanted[article.locale][article.slug] = article
        counts = dict.fromkeys(("added", "updated", "removed", "unchanged"), 0)
        with self._sync_lock:
            plans = {locale: _plan(idx.ix.reader, wanted[locale]) for locale, idx in self._indexes.items()}
            total = sum(len(plan["added"]) + len(plan["updated"]) for plan in plans.values())
            done = 0

            def indexed() -> None:
                nonlocal done
                done += 1
                if progress and total >= PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == total):
                    progress(f"indexed {done}/{total} articles")

            for locale, idx in self._indexes.items():
                plan = plans[locale]
                if plan["added"] or plan["updated"] or plan["removed"]:
                    plan = self._write(idx, wanted[locale], indexed)
                for key, slugs in plan.items():
                    counts[key] += len(slugs)
            if self._cache is not None:
                for locale in LOCALES:
                    held = [wanted[locale][slug] for slug in sorted(wanted[locale])]
                    vectors = embeddings.build(self._cache, held, progress, embed_missing)
                    with self._lock:
                        self._vectors[locale] = vectors
                if embed_missing:
                    self._cache.prune(a for found in wanted.values() for a in found.values())
        return counts

    def _write(
        self, idx: _LocaleIndex, wanted: dict[str, Article], indexed: Callable[[], None]
    ) -> dict[str, list[str]]:
        writer = idx.ix.writer(timeout=WRITE_LOCK_TIMEOUT)
        try:
            # Plan again under the write lock: another process may have committed meanwhile.
            plan = _plan(writer.reader, wanted)
            for slug in plan["removed"]:
                writer.delete_by_term("slug", slug)
            for slug in plan["added"]:
                writer.add_document(**_document(wanted[slug]))
                indexed()
            for slug in plan["updated"]:
                writer.update_document(**_document(wanted[slug]))
                indexed()
        except BaseException:
            writer.cancel()
            raise
        writer.commit()
        self._reopen(idx)
        return plan

    def _reopen(self, idx: _LocaleIndex) -> None:
        # Built outside the search lock: reading the vocabulary of a large index takes a while.
        view = _View(idx.ix, idx.locale)
        vectors = None
        if self._cache is not None and not self._sync_lock.locked():
            # Another process committed: its vectors are in the shared cache, and an article
            # whose vectors are not there yet is searched by its words until the next sync.
            held = [_article(idx.locale, fields) for _, fields in view.reader.iter_docs()]
            vectors = embeddings.build(self._cache, held, embed_missing=False)
        with self._lock:
            old, idx.view = idx.view, view
            if vectors is not None:
                self._vectors[idx.locale] = vectors
            old.searcher.close()

    def article(self, locale: str, slug: str) -> Article | None:
        """Return the indexed article, or None."""
        idx = self._indexes.get(locale)
        if idx is None:
            return None
        with self._lock:
            stored = idx.view.searcher.document(slug=slug)
        return None if stored is None else _article(locale, stored)

    def search(self, question: str, locale: str | None = None, limit: int = SHOWN) -> list[Hit]:
        """Return up to limit confident suggestions, best first; [] when none is good enough."""
        locale, ranked, query = self._rank(question, locale, limit)
        view = self._indexes[locale].view
        surfaces = view.vocabulary.surfaces
        with self._lock:
            vectors = self._vectors[locale]
        return [
            Hit(
                slug=r.slug,
                locale=locale,
                title=r.title,
                snippet=_snippet(r.plain, {word for stem in r.body_stems for word in surfaces.get(stem, ())}),
                score=round(r.score, 3),
                passage=_passage(view, vectors, query, r),
            )
            for r in _confident(ranked, _floor(view.doc_count), locale)
        ]

    def _rank(
        self, question: str, locale: str | None, limit: int
    ) -> tuple[str, list[_Ranked], embeddings.Matrix | None]:
        """Rank articles without a confidence cut-off: search() and evaluate() share this."""
        question = question[:MAX_QUESTION_CHARS]
        if locale is None:
            with self._lock:
                locale = self._guess_locale(question)
        idx = self._indexes.get(locale)
        if idx is None:
            raise ValueError(f"unsupported locale {locale!r}")
        with self._lock:
            stale = idx.is_stale()
        if stale:
            self._reopen(idx)
        with self._lock:
            vectors = self._vectors[locale]
        # Outside the lock: searches of other threads need not wait for this one's model call.
        query = embeddings.encode([question])[0] if vectors.slugs and limit >= 1 else None
        with self._lock:
            view = idx.view
            words = _words(view, locale, question)
            if not words or limit < 1:
                return locale, [], None
            totals = _bm25(view, words)
            phrased = _phrased(view, locale, question)
            candidates = {d for d, _ in heapq.nlargest(RERANK_DEPTH, totals.items(), key=itemgetter(1))}
            by_words: dict[int, float] = {}
            for docnum in candidates | phrased:
                boost = PHRASE_BOOST if docnum in phrased else 1.0
                by_words[docnum] = totals[docnum] * _coverage(view, words, docnum) ** COVERAGE_POWER * boost
            if query is None:
                cosines: dict[int, float] = {}
                scores = by_words
            else:
                cosines, low, high = _cosines(view, vectors, query, by_words)
                scores = _fuse(by_words, cosines, low, high)
            ranked = []
            for docnum in sorted(scores, key=lambda d: (-scores[d], d))[:limit]:
                stored = view.searcher.stored_fields(docnum)
                body_stems = {s for w in words for s in w.choices if docnum in view.scores("body", s)}
                ranked.append(_Ranked(
                    stored["slug"], stored["title"], stored["plain"], scores[docnum],
                    _coverage(view, words, docnum), body_stems, by_words.get(docnum, 0.0),
                    cosines.get(docnum), stored["markdown"],
                ))
        return locale, ranked, query

    def _guess_locale(self, question: str) -> str:
        votes = _locale_votes(question)
        if votes["nl"] != votes["en"]:
            return "nl" if votes["nl"] > votes["en"] else "en"
        # No function words ("retourlabel kwijt"): ask which help centre uses the words more,
        # as written (stems of different languages collide: Dutch "adres" is English "adress").
        # Shares of documents, not counts, because articles borrow the odd foreign word as a
        # synonym ("kapot" in an English article).
        share = {
            locale: sum(
                idx.view.reader.doc_frequency("spelling", word) for _, word in _stems(locale, question)
            )
            / idx.view.doc_count
            for locale, idx in self._indexes.items()
        }
        return "nl" if share["nl"] > share["en"] else "en"


def _cosines(
    view: _View, vectors: embeddings.Vectors, query: embeddings.Matrix, ranked: Iterable[int]
) -> tuple[dict[int, float], float, float]:
    """Return the cosines of the articles ranked by words and of the MEANING_DEPTH nearest by
    meaning, by document number, with the lowest and highest cosine of the whole locale."""
    cosines = vectors.scores(query)
    depth = min(MEANING_DEPTH, len(cosines))
    nearest = np.argpartition(-cosines, depth - 1)[:depth]
    found = {}
    for i in nearest.tolist():
        docnum = view.docnum.get(vectors.slugs[i])
        if docnum is not None:
            found[docnum] = float(cosines[i])
    for docnum in ranked:
        at = vectors.position.get(view.slug_of[docnum])
        if at is not None:
            found[docnum] = float(cosines[at])
    return found, float(cosines.min()), float(cosines.max())


def _fuse(by_words: dict[int, float], cosines: dict[int, float], low: float, high: float) -> dict[int, float]:
    """Blend the two rankings, each score on 0..1: the words' by the best, the cosines min-max."""
    best = max(by_words.values(), default=0.0) or 1.0
    spread = (high - low) or 1.0
    return {
        docnum: MEANING_WEIGHT * (cosines.get(docnum, low) - low) / spread
        + (1 - MEANING_WEIGHT) * by_words.get(docnum, 0.0) / best
        for docnum in {*by_words, *cosines}
    }


def _article(locale: str, stored: dict[str, Any]) -> Article:
    return Article(
        slug=stored["slug"],
        locale=locale,
        title=stored["title"],
        tags=split_list(stored["tags"]),
        synonyms=split_list(stored["synonyms"]),
        body=stored["markdown"],
        content_hash=stored["content_hash"],
    )


def _floor(doc_count: int) -> float:
    """Return the score the best answer must reach in an index of doc_count articles."""
    return MIN_SCORE_SHARE * math.log(1 + doc_count)


def _confident(ranked: list[_Ranked], floor: float, locale: str) -> list[_Ranked]:
    """Keep the suggestions worth showing: none unless the best is confident and scores."""
    if not ranked:
        return []
    top = ranked[0]
    if top.cosine is not None:
        words, coverage, threshold = MEANING_GATE[locale]
        sure = top.cosine + words * min(top.by_words / floor, WORDS_CAP) + coverage * top.confidence
        if sure < threshold:
            return []
        return [r for r in ranked if r.score >= MEANING_SHARE_OF_BEST * top.score]
    if top.confidence < MIN_CONFIDENCE or top.score < floor:
        return []
    floor = MIN_SHARE_OF_BEST * top.score
    return [r for r in ranked if r.confidence >= MIN_CONFIDENCE and r.score >= floor]


def _plan(open_reader: Callable[[], Any], wanted: dict[str, Article]) -> dict[str, list[str]]:
    """Sort slugs into added, updated, removed and unchanged against the index's hashes."""
    # A reader of its own: the searchers' shared file handles belong to searches.
    with open_reader() as reader:
        indexed = {fields["slug"]: fields["content_hash"] for _, fields in reader.iter_docs()}
    plan: dict[str, list[str]] = {"added": [], "updated": [], "removed": [], "unchanged": []}
    for slug, article in sorted(wanted.items()):
        if slug not in indexed:
            plan["added"].append(slug)
        elif indexed[slug] != article.content_hash:
            plan["updated"].append(slug)
        else:
            plan["unchanged"].append(slug)
    plan["removed"] = sorted(set(indexed) - set(wanted))
    return plan


# -- questions -----------------------------------------------------------------------------------------


@dataclass
class _Word:
    """One informative word of a question and the indexed stems it may stand for."""

    stem: str
    choices: dict[str, float]  # indexed stem -> weight: 1.0 as typed, FUZZY_WEIGHT for a typo fix
    weight: float  # rarity (idf): how much this word tells what the question is about


@dataclass(frozen=True)
class _Ranked:
    slug: str
    title: str
    plain: str
    score: float  # what ranks: the words' score, or its blend with the cosine
    confidence: float
    body_stems: set[str]
    by_words: float
    cosine: float | None  # None when this article has no vectors (or meaning is off)
    markdown: str


def _words(view: _View, locale: str, question: str) -> list[_Word]:
    """Turn a question into its informative words, each with typo-tolerant choices."""
    # Digits are order numbers, amounts and postcodes: no topic ("what is 2 plus 2").
    tokens = [(stem, word) for stem, word in _stems(locale, question) if not stem.isdigit()]
    tokens = tokens[:MAX_QUERY_WORDS]
    choices = [_choices(view, stem, word) for stem, word in tokens]
    # Visitors split compounds that articles write as one word ("tweestaps verificatie",
    # "sign up"): a neighbour pair that joins into an indexed word stands for both words.
    for i in range(len(tokens) - 1):
        for glue in ("", "s"):
            for stem, word in _stems(locale, tokens[i][1] + glue + tokens[i + 1][1]):
                for joined, weight in _choices(view, stem, word).items():
                    choices[i].setdefault(joined, weight)
                    choices[i + 1].setdefault(joined, weight)
    words: dict[str, _Word] = {}
    for (stem, word), found in zip(tokens, choices, strict=True):
        if not found and any(len(word) <= len(stop) for stop in _STOP_TYPOS[locale].near(word)):
            # "somthing", "becuase": a stop word misspelt says no more than the word. Only a
            # letter dropped or changed: one added makes real words of them ("morgen", "mogen").
            continue
        df = max((view.doc_frequency(s) for s in found), default=0)
        # A word no article uses weighs more than the rarest word any article uses: that is
        # what keeps "do you sell bikes" from being answered because "sell" had a match.
        words.setdefault(stem, _Word(stem, found, math.log(1 + view.doc_count / (df or UNSEEN_DF))))
    return list(words.values())


def _phrase(locale: str, text: str) -> tuple[str, ...]:
    return tuple(token.text for token in _PHRASE_ANALYZERS[locale](text))


def _phrased(view: _View, locale: str, question: str) -> set[int]:
    """Return the documents with a synonym the question holds whole ("where is my order")."""
    words = _phrase(locale, question)
    found: set[int] = set()
    for start in range(len(words)):
        for end in range(start + 2, min(start + view.longest_phrase, len(words)) + 1):
            found |= view.phrases.get(words[start:end], set())
    return found


def _choices(view: _View, stem: str, word: str) -> dict[str, float]:
    """Return the indexed stems a word stands for: its own stem, else those of its typo fixes."""
    vocabulary = view.vocabulary
    if stem in vocabulary.surfaces:
        return {stem: 1.0}
    return {vocabulary.stem_of[near]: FUZZY_WEIGHT for near in vocabulary.near(word)}


def _bm25(view: _View, words: list[_Word]) -> dict[int, float]:
    """Return BM25F scores summed over words and fields: an OR query, with field boosts."""
    # OR, because a question rarely holds every word of its article, and BM25 ranks articles
    # holding more of them, in better fields, higher.
    common = COMMON_BODY_SHARE * view.doc_count
    totals: dict[int, float] = defaultdict(float)
    for word in words:
        for stem, weight in word.choices.items():
            for name, boost in FIELD_BOOSTS.items():
                # Summing every posting of "order" in the bodies costs more than its near-zero
                # idf adds; _coverage still counts the word for the articles that get ranked.
                if name == "body" and view.reader.doc_frequency(name, stem) > common:
                    continue
                factor = boost * weight
                for docnum, score in view.scores(name, stem).items():
                    totals[docnum] += score * factor
    return totals


def _coverage(view: _View, words: list[_Word], docnum: int) -> float:
    """Return the rarity-weighted share of the question's words the document holds."""
    got = 0.0
    for word in words:
        best = 0.0
        for stem, weight in word.choices.items():
            if any(docnum in view.scores(name, stem) for name in _TOPICAL):
                best = max(best, weight)
            elif docnum in view.scores("body", stem):
                # A word in the title, tags or synonyms says what the article is about; the same
                # word only in the body may be a passing mention.
                best = max(best, weight * BODY_ONLY_COVERAGE)
        got += word.weight * best
    return got / sum(word.weight for word in words)


# -- snippets and passages ------------------------------------------------------------------------------


def _snippet(text: str, words: set[str]) -> str:
    """Cut about SNIPPET_CHARS of text around the most matched words, marked [[like this]]."""
    spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text) if _fold(m.group()) in words]
    start = 0
    if spans:
        distinct = [
            len({_fold(text[s:e]) for s, e in spans if a <= s and e <= a + SNIPPET_CHARS}) for a, _ in spans
        ]
        # Open a little before the densest window so its first match reads as part of a sentence.
        start = max(0, spans[distinct.index(max(distinct))][0] - SNIPPET_CHARS // 4)
        if start:
            space = text.find(" ", start, start + 20)
            start = space + 1 if space >= 0 else start
    end = start + SNIPPET_CHARS
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    parts, position = [], start
    for s, e in spans:
        if position <= s and e <= end:
            parts += [text[position:s], MARK_OPEN, text[s:e], MARK_CLOSE]
            position = e
    parts.append(text[position:end])
    return ("…" if start else "") + "".join(parts) + ("…" if end < len(text) else "")


def _passage(
    view: _View, vectors: embeddings.Vectors, query: embeddings.Matrix | None, ranked: _Ranked
) -> passages.Passage:
    """Return the passage of the article's section that answers: by the sections' vectors when
    meaning is on, else by the question's words it holds. Ranking is done by then."""
    article = view.sections.get(ranked.slug)
    if article is None:
        article = passages.Analysed.of(ranked.markdown, lambda text: terms(view.locale, text))
        if len(view.sections) >= SECTION_CACHE_ARTICLES:
            view.sections.clear()
            view.passages.clear()
        view.sections[ranked.slug] = article
    split = article.sections
    cosines = None
    at = vectors.position.get(ranked.slug)
    if query is not None and at is not None and len(split) > 1:
        # An article's rows are its whole text, its title and tags, then one a section
        # (embeddings.parts); rows of an older version of it count only if they still fit.
        start = int(vectors.starts[at]) + 2
        end = int(vectors.starts[at + 1]) if at + 1 < len(vectors.starts) else len(vectors.matrix)
        if end - start == len(split):
            cosines = (vectors.matrix[start:end] @ query).tolist()
    at = passages.best_section(article, ranked.body_stems, cosines)
    found = view.passages.get((ranked.slug, at))
    if found is None:
        found = view.passages[ranked.slug, at] = passages.passage(split[at])
    return found


def terms(locale: str, text: str) -> set[str]:
    """Return the stems search matches in text: its words less stop words, stemmed."""
    return {stem for stem, _ in _stems(locale, text)}


# -- evaluation ----------------------------------------------------------------------------------------


# What a question in a set is: one an article answers (the default), one no article answers,
# or a visitor asking for a person; the last two expect no suggestion.
QUESTION_KINDS = ("article", "out_of_scope", "person")


def evaluate(kb: KnowledgeBase, questions: Iterable[dict[str, object]]) -> dict[str, object]:
    """Score the ranking and what visitors are shown, each over the questions it concerns.

    Article questions (expected slugs, no "kind"): hit@1, hit@3 and MRR (over the top 10)
    judge the ranking before the confidence cut-off; "answered" is the share search() shows
    anything for, "shown@3" the share it shows the expected article for. Questions of kind
    "out_of_scope" and "person" expect no article: their share shown any suggestion is the
    error. "misses" lists article questions whose expected article did not come first,
    "hidden" those ranked in the top 3 but cut off, "wrongly_shown" the others given articles.
    """
    counts: dict[str, int] = defaultdict(int)
    reciprocal = 0.0
    misses: list[dict[str, object]] = []
    hidden: list[dict[str, object]] = []
    wrongly_shown: list[dict[str, object]] = []
    for item in questions:
        question = str(item["question"])
        listed = item.get("expected") or []
        expected = [str(slug) for slug in listed] if isinstance(listed, list) else [str(listed)]
        locale = str(item["locale"]) if item.get("locale") else None
        kind = str(item.get("kind", "article"))
        if kind not in QUESTION_KINDS:
            raise ValueError(f"{question!r}: kind {kind!r} is none of {', '.join(QUESTION_KINDS)}")
        used, ranked, _ = kb._rank(question, locale, 10)
        got = [r.slug for r in ranked]
        # What the chat shows: nothing to a visitor asking for a person (chat/commands.py).
        shown = [] if asks_for_person(question) else [
            r.slug for r in _confident(ranked[:SHOWN], _floor(kb._indexes[used].view.doc_count), used)
        ]
        counts[kind] += 1
        if kind != "article":
            counts[f"{kind}_shown"] += bool(shown)
            if shown:
                wrongly_shown.append({"question": question, "kind": kind, "shown": shown})
            continue
        rank = next((i for i, slug in enumerate(got, 1) if slug in expected), None)
        counts["hit@1"] += rank == 1
        counts["hit@3"] += rank is not None and rank <= SHOWN
        reciprocal += 1 / rank if rank else 0.0
        counts["answered"] += bool(shown)
        found = any(slug in expected for slug in shown)
        counts["shown@3"] += found
        if rank != 1:
            misses.append({"question": question, "expected": expected, "got": got[:3]})
        if rank is not None and rank <= SHOWN and not found:
            hidden.append({"question": question, "expected": expected, "shown": shown})

    def share(key: str, of: str) -> float | None:
        return round(counts[key] / counts[of], 4) if counts[of] else None

    return {
        "count": counts["article"],
        "hit@1": share("hit@1", "article"),
        "hit@3": share("hit@3", "article"),
        "mrr": round(reciprocal / counts["article"], 4) if counts["article"] else None,
        "answered": share("answered", "article"),
        "shown@3": share("shown@3", "article"),
        "out_of_scope": counts["out_of_scope"],
        "out_of_scope_shown": share("out_of_scope_shown", "out_of_scope"),
        "person": counts["person"],
        "person_shown": share("person_shown", "person"),
        "misses": misses,
        "hidden": hidden,
        "wrongly_shown": wrongly_shown,
    }


def load_questions(path: Path) -> list[dict[str, object]]:
    """Read a JSON-lines question set: {"question", "expected": [slug, ...], "locale"} a line,
    with "kind" for questions no article answers (see QUESTION_KINDS)."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("question"), str):
            raise ValueError(f'{path}:{number}: expected an object with a "question" string')
        if item.get("kind", "article") not in QUESTION_KINDS:
            raise ValueError(f"{path}:{number}: kind {item['kind']!r} is none of {', '.join(QUESTION_KINDS)}")
        questions.append(item)
    return questions
