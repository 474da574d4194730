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

from chatserver import html_articles, i18n
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import article_views, articles

_REPO_SOURCE = Path(__file__).resolve().parent.parent / "kb"
# An installed wheel carries kb/ inside the package (pyproject's force-include).
DEFAULT_SOURCE = _REPO_SOURCE if _REPO_SOURCE.is_dir() else Path(__file__).resolve().parent / "kb_articles"
LOCALES = i18n.LOCALES
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Front matter keys this help centre reads; other tools' keys (Hugo's date, Jekyll's layout) are
# ignored, so an exported folder imports as it is.
_FRONT_KEYS = ("title", "slug", "locale", "tags", "synonyms", "category")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
MAX_CATEGORY_CHARS = 80
HTML_SUFFIXES = (".html", ".htm")


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
    # Where the help centre lists it; not searched, so not part of the content hash.
    category: str = ""

    @property
    def section(self) -> str:
        """Return where the help centre lists it: its category, else its first tag (the console's
        rule before categories were their own field)."""
        return self.category or (category_name(self.tags[0]) if self.tags else "")

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
        category: str = "",
    ) -> Article:
        """Make an article, computing its content hash from the fields."""
        tags, synonyms = tuple(tags), tuple(synonyms)
        canonical = "\x1f".join([slug, locale, title, ",".join(tags), ",".join(synonyms), body])
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        return cls(slug, locale, title, tags, synonyms, body, digest, category)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ArticleError(f"{path}: cannot be read ({exc.strerror})") from None


def _front_matter(path: Path, lines: list[str]) -> tuple[dict[str, str], int]:
    """Return the front matter's known keys and the index of the first body line."""
    if lines[0].strip() != "---":
        return {}, 0
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), None)
    if end is None:
        raise ArticleError(f"{path}: the front matter is not closed by a '---' line")
    meta: dict[str, str] = {}
    key = ""
    for number, line in enumerate(lines[1:end], 2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[:1] in (" ", "\t", "-"):
            # A YAML list under the key before ("tags:" then "  - returns").
            item = line.strip().removeprefix("-").strip()
            if key in meta and line.lstrip().startswith("-") and item:
                meta[key] = ", ".join(filter(None, (meta[key], _unquote(item))))
            continue
        name, colon, value = line.partition(":")
        key = name.strip().lower()
        if not colon:
            raise ArticleError(f"{path}:{number}: expected 'key: value', got {line.strip()!r}")
        if key not in _FRONT_KEYS:
            continue
        if key in meta:
            raise ArticleError(f"{path}:{number}: {key!r} is given twice")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = ", ".join(_unquote(item) for item in value[1:-1].split(","))
        meta[key] = _unquote(value)
    return meta, end + 1


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].strip()
    return value


def _title_from_heading(lines: list[str]) -> tuple[str, list[str]]:
    """Return the first line's heading and the lines after it, or "" and the lines as they are."""
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        return "", lines
    atx = _HEADING.match(lines[start])
    if atx:
        return atx.group(1).strip(), lines[start + 1 :]
    if start + 1 < len(lines) and _SETEXT.match(lines[start + 1]):
        return lines[start].strip(), lines[start + 2 :]
    return "", lines


def category_name(folder: str) -> str:
    """Return a folder's name as a category: "shipping-and-returns" becomes "Shipping and returns"."""
    words = " ".join(re.split(r"[-_\s]+", folder)).strip()
    return words[:1].upper() + words[1:]


def _locale_folder(name: str) -> str:
    """Return the language a folder is named for ("nl", or "en-us" as help centres name them)."""
    language, _, region = name.lower().replace("_", "-").partition("-")
    return language if language in LOCALES and len(region) <= 4 and (not region or region.isalpha()) else ""


def _placed(path: Path, root: Path | None, default_locale: str) -> tuple[str, str]:
    """Return the locale and category a file's folders give it, below root."""
    folders = list(path.relative_to(root).parts[:-1]) if root else [path.parent.name]
    locale = default_locale
    if folders and _locale_folder(folders[0]):
        locale = _locale_folder(folders.pop(0))
    elif path.parent.name in LOCALES:
        locale = path.parent.name
    return locale, category_name(folders[0]) if root and folders else ""


def parse_article(path: Path, root: Path | None = None, default_locale: str = "en") -> Article:
    """Parse one Markdown file, front matter optional; raise ArticleError naming the problem.

    Only a title is needed: from the front matter or the first heading. The slug comes from
    the file name, the locale from an en/ or nl/ folder (else default_locale) and the category
    from the folder below root, unless the front matter says otherwise.
    """
    lines = _read(path).replace("\r\n", "\n").split("\n")
    meta, start = _front_matter(path, lines)
    rest = lines[start:]
    title = meta.get("title", "")
    if not title:
        title, rest = _title_from_heading(rest)
    if not title:
        raise ArticleError(f"{path}: no title: give one in front matter ('title: ...') "
                           "or start the text with a '# Heading'")
    slug = meta.get("slug") or "-".join(re.findall(r"[a-z0-9]+", path.stem.lower()))
    if not _SLUG.fullmatch(slug):
        raise ArticleError(f"{path}: slug {slug!r} must be lowercase letters, digits and dashes")
    folder_locale, folder_category = _placed(path, root, default_locale)
    locale = meta.get("locale") or folder_locale
    if locale not in LOCALES:
        raise ArticleError(f"{path}: locale {locale!r} is not one of {', '.join(LOCALES)}")
    if path.parent.name in LOCALES and path.parent.name != locale:
        raise ArticleError(f"{path}: locale is {locale!r} but the file is in {path.parent.name}/")
    body = "\n".join(rest).strip()
    if not body:
        raise ArticleError(f"{path}: there is no text after the title")
    return Article.build(
        slug=slug,
        locale=locale,
        title=title,
        body=body,
        tags=split_list(meta.get("tags", "")),
        synonyms=split_list(meta.get("synonyms", "")),
        category=_category(path, meta.get("category") or folder_category),
    )


def _category(path: Path, category: str) -> str:
    if len(category) > MAX_CATEGORY_CHARS:
        raise ArticleError(f"{path}: the category is longer than {MAX_CATEGORY_CHARS} characters")
    return category


def parse_html_article(path: Path, root: Path | None = None, default_locale: str = "en") -> Article:
    """Parse one page of an HTML help-centre export; raise ArticleError naming the problem."""
    page = html_articles.parse_page(_read(path))
    if not page.title:
        raise ArticleError(f"{path}: no title: the page has no <h1> and no <title>")
    # An export of pretty URLs holds one index.html a folder, named by the folder.
    named = path.parent if path.stem.lower() == "index" and path.parent != root else path
    slug = html_articles.slug_of(named.stem)
    if not _SLUG.fullmatch(slug):
        raise ArticleError(f"{path}: no slug: the file name {named.name!r} has no letters or digits")
    locale, category = _placed(named, root, default_locale)
    if page.lang in LOCALES and not (named.parent.name in LOCALES and named.parent.name != page.lang):
        locale = page.lang
    if not plain_text(page.body):
        raise ArticleError(f"{path}: the page has no article text (only navigation, forms or scripts)")
    return Article.build(slug=slug, locale=locale, title=page.title, body=page.body,
                         category=_category(path, category))


def valid_slug(slug: str) -> bool:
    """Tell whether slug is lower-case letters, digits and single dashes (no path tricks)."""
    return bool(_SLUG.fullmatch(slug))


def split_list(value: str) -> tuple[str, ...]:
    """Split a comma-separated front-matter value."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def load_articles(source: Path, default_locale: str = "en") -> tuple[list[Article], list[str]]:
    """Read every Markdown and HTML file under source; return the good articles and one line
    per file skipped, with the reason."""
    if not source.is_dir():
        return [], [f"{source}: not a directory"]
    articles: list[Article] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        parse = parse_article if suffix == ".md" else parse_html_article if suffix in HTML_SUFFIXES else None
        if parse is None or any(part.startswith(".") for part in path.relative_to(source).parts):
            continue
        try:
            article = parse(path, source, default_locale)
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
    (re.compile(r"\\([\\`*_\[\]<>#+=.)-])"), r"\1"),  # what an HTML import escaped is text
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
        "body": article.body, "content_hash": article.content_hash, "category": article.category,
    }


def _article(row: Any) -> Article:
    return Article(row.slug, row.locale, row.title, tuple(row.tags), tuple(row.synonyms), row.body,
                   row.content_hash, row.category)


async def replace_all(store: Store, wanted: list[Article]) -> dict[str, int]:
    """Make the stored help centre exactly these articles; count what changed."""
    counts = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0}
    now = now_ms()
    async with store.write() as conn:
        stored = {
            (row.locale, row.slug): (row.content_hash, row.category)
            for row in await conn.execute(
                select(articles.c.locale, articles.c.slug, articles.c.content_hash, articles.c.category)
            )
        }
        for article in wanted:
            key = (article.locale, article.slug)
            earlier = stored.pop(key, None)
            if earlier == (article.content_hash, article.category):
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
