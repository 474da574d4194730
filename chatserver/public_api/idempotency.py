"""Idempotency keys: a create sent again with the same key gets the first answer, made once.

The key is claimed by inserting its row before the create runs; the primary key (site, key)
lets one request of two racing ones win. The same key with another request is a client's
mistake (422), and with the first still running, a conflict (409). Only a create that
succeeded is remembered: after a refusal the key is free again for a corrected request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver.api import ApiError
from chatserver.store import Store, now_ms
from chatserver.store.schema import api_idempotency

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 200
# How long a key answers with its first result: a day covers any client's retries (Stripe
# keeps its keys 24 hours too); older rows are deleted as new keys come.
KEEP_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Name a request by what it asks: method, path and body (its JSON, keys in any order)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
    except ValueError:
        canonical = body.decode(errors="replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def check_key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY_CHARS or not key.isprintable():
        raise ApiError(400, "invalid_parameter",
                       f"{HEADER} must be 1-{MAX_KEY_CHARS} printable characters")
    return key


async def claim(store: Store, site_id: str, key: str, print_: str) -> Replay | None:
    """Claim the key for this request (None: go ahead), or return the first answer to replay."""
    now = now_ms()
    try:
        async with store.write() as conn:
            await conn.execute(delete(api_idempotency).where(api_idempotency.c.created_at < now - KEEP_MS))
            await conn.execute(insert(api_idempotency).values(
                site_id=site_id, key=key, fingerprint=print_, status=None, response=None, created_at=now,
            ))
        return None
    except IntegrityError:
        pass
    async with store.read() as conn:
        first = (await conn.execute(select(api_idempotency).where(
            api_idempotency.c.site_id == site_id, api_idempotency.c.key == key
        ))).first()
    if first is None:
        raise ApiError(409, "conflict", f"the request with this {HEADER} just ended; send it again")
    if first.fingerprint != print_:
        raise ApiError(422, "idempotency_mismatch",
                       f"this {HEADER} was used for a different request; use a new key")
    if first.status is None:
        raise ApiError(409, "conflict", f"the first request with this {HEADER} is still running")
    return Replay(int(first.status), json.loads(first.response))


async def remember(store: Store, site_id: str, key: str, status: int, body: dict[str, Any]) -> None:
    async with store.write() as conn:
        await conn.execute(
            update(api_idempotency)
            .where(api_idempotency.c.site_id == site_id, api_idempotency.c.key == key)
            .values(status=status, response=json.dumps(body))
        )


async def release(store: Store, site_id: str, key: str) -> None:
    async with store.write() as conn:
        await conn.execute(delete(api_idempotency).where(
            api_idempotency.c.site_id == site_id, api_idempotency.c.key == key
        ))


def client_id(key: str) -> str:
    """Name a create's row for the core's own resend check (its client id) after the key."""
    return "api-" + hashlib.sha256(key.encode()).hexdigest()[:40]
