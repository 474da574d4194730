"""Files in the store: the row that names a stored file, what a conversation holds, its limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select

from chatserver.files.sniff import Served
from chatserver.store import Store, now_ms
from chatserver.store.schema import conversations, files


class OverQuota(Exception):
    """The conversation would hold more bytes of files than allowed; nothing was added."""

    def __init__(self, used: int) -> None:
        super().__init__(used)
        self.used = used


@dataclass(frozen=True)
class StoredFile:
    id: str
    site_id: str
    conversation_id: str
    name: str
    content_type: str
    inline: bool
    size: int

    @property
    def served(self) -> Served:
        return Served(self.content_type, self.inline)

    def describe(self) -> dict[str, Any]:
        """Return the file as a message carries it (docs/protocol.md, `files`)."""
        return {"id": self.id, "name": self.name, "type": self.content_type,
                "size": self.size, "inline": self.inline}


async def used_bytes(store: Store, conversation_id: str) -> int:
    """Return the bytes of files a conversation holds."""
    async with store.read() as conn:
        query = select(func.coalesce(func.sum(files.c.size), 0)).where(
            files.c.conversation_id == conversation_id)
        return int((await conn.execute(query)).scalar_one())


async def add(
    store: Store, file: StoredFile, uploader_kind: str, uploader_id: str, sha256: str,
    max_conversation_bytes: int,
) -> None:
    """Record a stored file; raise OverQuota when the conversation would pass its limit.

    The conversation's row is locked first (PostgreSQL; SQLite's write transaction excludes
    other writers already), so two uploads at once cannot both squeeze under the limit.
    """
    async with store.write() as conn:
        await conn.execute(select(conversations.c.id).where(
            conversations.c.id == file.conversation_id).with_for_update())
        used = int((await conn.execute(select(func.coalesce(func.sum(files.c.size), 0)).where(
            files.c.conversation_id == file.conversation_id))).scalar_one())
        if used + file.size > max_conversation_bytes:
            raise OverQuota(used)
        await conn.execute(insert(files).values(
            id=file.id, site_id=file.site_id, conversation_id=file.conversation_id,
            uploader_kind=uploader_kind, uploader_id=uploader_id, name=file.name,
            content_type=file.content_type, inline=file.inline, size=file.size, sha256=sha256,
            created_at=now_ms(),
        ))


async def get(store: Store, file_id: str) -> StoredFile | None:
    async with store.read() as conn:
        row = (await conn.execute(select(
            files.c.id, files.c.site_id, files.c.conversation_id, files.c.name,
            files.c.content_type, files.c.inline, files.c.size,
        ).where(files.c.id == file_id))).first()
    return StoredFile(*row) if row else None


async def remove(store: Store, file_id: str) -> None:
    async with store.write() as conn:
        await conn.execute(delete(files).where(files.c.id == file_id))


async def all_ids(store: Store) -> list[tuple[str, int]]:
    """Return every file's id and size (for migrate-store)."""
    async with store.read() as conn:
        return [(row.id, row.size) for row in await conn.execute(
            select(files.c.id, files.c.size).order_by(files.c.id))]
