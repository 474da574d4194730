"""Help articles as plain data: Markdown files with front matter, parsed and validated."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver import i18n
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import article_views, articles

_REPO_SOURCE = Path(__file__).resolve().parent.parent / "kb"
# An installed wheel carries kb/ inside the package (pyproject's force-include).
DEFAULT_SOURCE = _REPO_SOURCE if _REPO_SOURCE.is_dir() else Path(__file__).resolve().parent / "kb_articles"
LOCALES = i18n.LOCALES
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_FRONT_KEYS = ("title", "slug", "locale", "tags", "synonyms")
_REQUIRED_KEYS = ("title", "slug", "locale", "tags")


class ArticleError(ValueError):
    """An article file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Article:
    slug: str
    locale: str
    title: str
    tags: tuple[str, ...]
    synonyms: tuple[str, ...]
    body: str
    content_hash: str

    @classmethod
    def build(
        cls,
        *,
        slug: str,
        locale: str,
        title: str,
        body: str,
        tags: Iterable[str] = (),
        synonyms: Iterable[str] = (),
    ) -> Article:
        """Make an article, computing its content hash from the fields."""
        tags, synonyms = tuple(tags), tuple(synonyms)
        canonical = "\x1f".join([slug, locale, title, ",".join(tags), ",".join(synonyms), body])
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        return cls(slug, locale, title, tags, synonyms, body, digest)


def parse_article(path: Path) -> Article:
    """Parse one Markdown file with front matter; raise ArticleError naming the problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ArticleError(f"{path}: cannot be read ({exc.strerror})") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[0].strip() != "---":
        raise ArticleError(f"{path}: must start with a '---' line that opens the front matter")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
    if end is None:
        raise ArticleError(f"{path}: the front matter is not closed by a '---' line")
    meta: dict[str, str] = {}
    for number, line in enumerate(lines[1:end], 2):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon:
            raise ArticleError(f"{path}:{number}: expected 'key: value', got {line.strip()!r}")
        if key not in _FRONT_KEYS:
            raise ArticleError(f"{path}:{number}: unknown key {key!r} (known: {', '.join(_FRONT_KEYS)})")
        if key in meta:
            raise ArticleError(f"{path}:{number}: {key!r} is given twice")
        meta[key] = value.strip()
    missing = [key for key in _REQUIRED_KEYS if not meta.get(key)]
    if missing:
        raise ArticleError(f"{path}: the front matter lacks {', '.join(missing)}")
    slug, locale = meta["slug"], meta["locale"]
    if not _SLUG.fullmatch(slug):
        raise ArticleError(f"{path}: slug {slug!r} must be lowercase letters, digits and dashes")
    if locale not in LOCALES:
        raise ArticleError(f"{path}: locale {locale!r} is not one of {', '.join(LOCALES)}")
    if path.parent.name in LOCALES and path.parent.name != locale:
        raise ArticleError(f"{path}: locale is {locale!r} but the file is in {path.parent.name}/")
    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        raise ArticleError(f"{path}: there is no text after the front matter")
    return Article.build(
        slug=slug,
        locale=locale,
        title=meta["title"],
        body=body,
        tags=split_list(meta["tags"]),
        synonyms=split_list(meta.get("synonyms", "")),
    )


def valid_slug(slug: str) -> bool:
    """Tell whether slug is lower-case letters, digits and single dashes (no path tricks)."""
    return bool(_SLUG.fullmatch(slug))


def split_list(value: str) -> tuple[str, ...]:
    """Split a comma-separated front-matter value."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def load_articles(source: Path) -> tuple[list[Article], list[str]]:
    """Read every *.md under source; return the good articles and one line per bad file."""
    if not source.is_dir():
        return [], [f"{source}: not a directory"]
    articles: list[Article] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in sorted(source.rglob("*.md")):
        try:
            article = parse_article(path)
        except ArticleError as exc:
            problems.append(str(exc))
            continue
        first = seen.setdefault((article.locale, article.slug), path)
        if first != path:
            problems.append(f"{path}: slug {article.slug!r} is already used by {first}")
            continue
        articles.append(article)
    return articles, problems


_MARKDOWN = [
    (re.compile(r"```.*?```", re.S), " "),
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images keep their text
    (re.compile(r"<[^>]+>"), " "),
    (re.compile(r"^ {0,3}#{1,6}\s*(.*?)[\s#]*$", re.M), r"\1:"),  # a heading introduces its section
    (re.compile(r"^\s*(?:[-*+]|\d+[.)]|>)\s+", re.M), ""),
    (re.compile(r"[*_`|]+|^-{3,}$", re.M), ""),
    # The widget splits snippets on the markers, so the text itself must never hold them.
    (re.compile(r"\[\[|\]\]"), " "),
    (re.compile(r"([?!.:]):"), r"\1"),
    (re.compile(r"\s+"), " "),
]


def plain_text(markdown: str) -> str:
    """Return Markdown as one line of plain text, without markup or snippet markers."""
    for pattern, replacement in _MARKDOWN:
        markdown = pattern.sub(replacement, markdown)
    return markdown.strip()


# -- the store ------------------------------------------------------------------------------------


def _values(article: Article) -> dict[str, Any]:
    return {
        "title": article.title, "tags": list(article.tags), "synonyms": list(article.synonyms),
        "body": article.body, "content_hash": article.content_hash,
    }


def _article(row: Any) -> Article:
    return Article(row.slug, row.locale, row.title, tuple(row.tags), tuple(row.synonyms), row.body,
                   row.content_hash)


async def replace_all(store: Store, wanted: list[Article]) -> dict[str, int]:
    """Make the stored help centre exactly these articles; count what changed."""
    counts = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0}
    now = now_ms()
    async with store.write() as conn:
        stored = {
            (row.locale, row.slug): row.content_hash
            for row in await conn.execute(
                select(articles.c.locale, articles.c.slug, articles.c.content_hash)
            )
        }
        for article in wanted:
            key = (article.locale, article.slug)
            earlier = stored.pop(key, None)
            if earlier == article.content_hash:
                counts["unchanged"] += 1
            elif earlier is None:
                counts["added"] += 1
                await conn.execute(insert(articles).values(
                    locale=article.locale, slug=article.slug, updated_at=now, **_values(article)
                ))
            else:
                counts["updated"] += 1
                await conn.execute(
                    update(articles)
                    .where(articles.c.locale == article.locale, articles.c.slug == article.slug)
                    .values(updated_at=now, **_values(article))
                )
        for locale, slug in stored:
            counts["removed"] += 1
            await conn.execute(
                delete(articles).where(articles.c.locale == locale, articles.c.slug == slug)
            )
    return counts


async def all_articles(store: Store) -> list[Article]:
    """Return every stored article."""
    async with store.read() as conn:
        rows = await conn.execute(select(articles).order_by(articles.c.locale, articles.c.slug))
        return [_article(row) for row in rows]


async def version(store: Store) -> tuple[int, int]:
    """Return (count, newest change): it moves whenever any process changes an article."""
    async with store.read() as conn:
        row = (await conn.execute(select(func.count(), func.max(articles.c.updated_at)))).one()
    return int(row[0]), int(row[1] or 0)


async def get(store: Store, locale: str, slug: str) -> Article | None:
    """Return one stored article, or None."""
    async with store.read() as conn:
        row = (await conn.execute(
            select(articles).where(articles.c.locale == locale, articles.c.slug == slug)
        )).first()
    return _article(row) if row else None


async def record_view(
    store: Store, contact_id: str, conversation_id: str | None, locale: str, slug: str
) -> None:
    """Remember that a visitor opened an article, for the agent's sidebar."""
    async with store.write() as conn:
        await conn.execute(insert(article_views).values(
            id=new_id(), contact_id=contact_id, conversation_id=conversation_id, locale=locale,
            slug=slug, created_at=now_ms(),
        ))


async def viewed(store: Store, contact_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """Return the articles a contact opened, newest first, with their titles."""
    query = (
        select(article_views.c.locale, article_views.c.slug, article_views.c.created_at,
               articles.c.title)
        .select_from(article_views.outerjoin(articles, and_(
            articles.c.locale == article_views.c.locale, articles.c.slug == article_views.c.slug
        )))
        .where(article_views.c.contact_id == contact_id)
        .order_by(article_views.c.created_at.desc())
        .limit(limit)
    )
    async with store.read() as conn:
        return [dict(row._mapping) for row in await conn.execute(query)]


async def create(store: Store, article: Article) -> bool:
    """Store a new article; False when its locale and slug are taken (the key decides)."""
    try:
        async with store.write() as conn:
            await conn.execute(insert(articles).values(
                locale=article.locale, slug=article.slug, updated_at=now_ms(), **_values(article)
            ))
    except IntegrityError:
        return False
    return True


async def save(store: Store, article: Article) -> bool:
    """Replace a stored article's text; False when it no longer exists."""
    async with store.write() as conn:
        changed = await conn.execute(
            update(articles)
            .where(articles.c.locale == article.locale, articles.c.slug == article.slug)
            .values(updated_at=now_ms(), **_values(article))
        )
    return bool(changed.rowcount)


async def remove(store: Store, locale: str, slug: str) -> bool:
    """Delete one article; False when it was not there. Every process drops it from its index."""
    async with store.write() as conn:
        gone = await conn.execute(
            delete(articles).where(articles.c.locale == locale, articles.c.slug == slug)
        )
    return bool(gone.rowcount)
