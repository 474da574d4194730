"""Self-service first: keep this process's search index in step with the stored help centre,
and answer visitor questions with the articles worth showing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatserver import articles, metrics
from chatserver.kb import Hit, KnowledgeBase
from chatserver.store import Store

log = logging.getLogger("chatserver.suggestions")

# How often a process checks whether another process changed an article: the issue asks
# that an edit be searchable on every process "within seconds".
REFRESH_SECONDS = 3.0


@dataclass
class Suggester:
    """The search index of one process and the store version it reflects."""

    index: KnowledgeBase
    seen: tuple[int, int] = (-1, -1)
    closed: bool = False

    @classmethod
    def open(cls, data_dir: Path, meaning: bool = True) -> Suggester:
        return cls(KnowledgeBase(data_dir / "kb", meaning))

    async def refresh(
        self, store: Store, progress: Callable[[str], None] | None = None, embed_missing: bool = True
    ) -> bool:
        """Re-index from the store if any article changed since the last look; tell if it did.

        Without embed_missing the words are indexed and articles not embedded yet wait for
        embed_rest: a first start serves at once instead of after embedding the help centre.
        """
        current = await articles.version(store)
        if current == self.seen:
            return False
        stored = await articles.all_articles(store)
        counts = await asyncio.to_thread(self.index.sync, stored, progress, embed_missing)
        self.seen = current
        log.info("event=kb_indexed %s", " ".join(f"{k}={v}" for k, v in counts.items()))
        return True

    async def embed_rest(self, store: Store) -> None:
        """Embed what the first refresh left to words alone; run as a background task."""
        if not self.index.searches_meaning:
            return
        try:
            stored = await articles.all_articles(store)
            await asyncio.to_thread(self.index.sync, stored)
            log.info("event=kb_embedded articles=%d", len(stored))
        except Exception:  # searching by words goes on; the next change of an article retries
            if not self.closed:  # else close() ended the embedding on purpose
                log.exception("event=kb_embed_failed")

    async def keep_fresh(self, store: Store) -> None:
        """Refresh forever; run as a background task."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh(store)
            except Exception:  # the next round tries again; searching goes on meanwhile
                log.exception("event=kb_refresh_failed")

    async def suggest(self, question: str, locale: str | None, limit: int = 3) -> list[Hit]:
        """Return up to limit confident articles for a question (none when nothing fits)."""
        with metrics.SEARCH_SECONDS.time():
            return await asyncio.to_thread(self.index.search, question, locale, limit)

    def close(self) -> None:
        self.closed = True
        self.index.close()


def as_links(hits: list[Hit], base_url: str) -> list[dict[str, Any]]:
    """Describe hits for a client, each with the public help-centre address of its article and
    the passage that answers, whose url opens the article at that section."""
    found = []
    for hit in hits:
        url = f"{base_url}/help/{hit.locale}/{hit.slug}"
        link: dict[str, Any] = {"slug": hit.slug, "locale": hit.locale, "title": hit.title,
                                "snippet": hit.snippet, "url": url}
        if hit.passage is not None:
            anchor = hit.passage["anchor"]
            link["passage"] = {**hit.passage, "url": f"{url}#{anchor}" if anchor else url}
        found.append(link)
    return found


async def seed(store: Store, source: Path = articles.DEFAULT_SOURCE) -> list[str]:
    """Import the shipped help centre into an empty store; return the files' problems."""
    if (await articles.version(store))[0]:
        return []
    found, problems = articles.load_articles(source)
    await articles.replace_all(store, found)
    return problems
