"""API tokens: one site each, scopes read < write < admin, shown once, kept as SHA-256 hashes.

A token is 256 random bits, so a plain SHA-256 is enough to keep it (no password stretching:
nobody can guess through 2^256); the lookup is by hash, so a stolen store reveals no token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select, update

from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import api_tokens

Scope = Literal["read", "write", "admin"]
# Each scope allows everything the ones before it do: a write token reads, an admin token writes.
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
# What every token starts with, so a leaked one is recognisable (secret scanners, logs).
TOKEN_START = "csk_"
# The characters an admin sees in lists: enough to tell a site's tokens apart, useless to use.
PREFIX_CHARS = 12
# last_used_at is written at most this often per token: a busy integration must not turn
# every read into a store write.
LAST_USED_EVERY_MS = 60_000
MAX_NAME_CHARS = 100


class TokenError(ValueError):
    """A token that cannot be made: a bad name or scope."""


@dataclass(frozen=True)
class ApiToken:
    id: str
    site_id: str
    name: str
    prefix: str
    scopes: tuple[Scope, ...]
    created_by: str | None
    created_at: int
    last_used_at: int | None
    revoked_at: int | None

    def allows(self, needed: Scope) -> bool:
        """Tell whether the token's highest scope reaches the one needed."""
        return any(SCOPES.index(s) >= SCOPES.index(needed) for s in self.scopes)

    def public(self) -> dict[str, Any]:
        """Describe the token for lists: never its secret, which is not stored."""
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "scopes": list(self.scopes),
                "created_by": self.created_by, "created_at": self.created_at,
                "last_used_at": self.last_used_at, "revoked_at": self.revoked_at}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_scopes(scopes: Any) -> tuple[Scope, ...]:
    """Return scopes as a tuple in order; raise TokenError unless each is read, write or admin."""
    if isinstance(scopes, str):
        scopes = [s for s in scopes.replace(",", " ").split() if s]
    if not isinstance(scopes, list | tuple) or not scopes or any(s not in SCOPES for s in scopes):
        raise TokenError(f"scopes must be one or more of {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in scopes)


def _token(row: Any) -> ApiToken:
    values = dict(row._mapping)
    values.pop("token_hash", None)
    values["scopes"] = tuple(values["scopes"])
    return ApiToken(**values)


async def create(
    store: Store, site_id: str, name: str, scopes: Any, created_by: str | None = None
) -> tuple[ApiToken, str]:
    """Make a token for a site; return it and its secret, which is never shown again."""
    name = " ".join(str(name).split())
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise TokenError(f"a token needs a name of 1-{MAX_NAME_CHARS} characters")
    checked = check_scopes(scopes)
    secret = TOKEN_START + secrets.token_urlsafe(32)
    token = ApiToken(new_id(), site_id, name, secret[:PREFIX_CHARS], checked, created_by, now_ms(),
                     None, None)
    async with store.write() as conn:
        await conn.execute(insert(api_tokens).values(
            id=token.id, site_id=site_id, name=name, prefix=token.prefix, token_hash=_hash(secret),
            scopes=list(checked), created_by=created_by, created_at=token.created_at,
        ))
    return token, secret


async def of_site(store: Store, site_id: str) -> list[ApiToken]:
    """Return a site's tokens, revoked ones included, newest first."""
    query = select(api_tokens).where(api_tokens.c.site_id == site_id).order_by(
        api_tokens.c.created_at.desc(), api_tokens.c.id
    )
    async with store.read() as conn:
        return [_token(row) for row in await conn.execute(query)]


async def revoke(store: Store, site_id: str, token_id: str) -> bool:
    """Revoke a token of the site from now on; False if it is not the site's or already revoked."""
    async with store.write() as conn:
        changed = await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.site_id == site_id,
                   api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now_ms())
        )
    return bool(changed.rowcount)


async def authenticate(store: Store, secret: str) -> ApiToken | None:
    """Return the live token with this secret, or None; note when it was last used."""
    if not secret.startswith(TOKEN_START) or len(secret) > 100:
        return None
    async with store.read() as conn:
        row = (await conn.execute(
            select(api_tokens).where(api_tokens.c.token_hash == _hash(secret))
        )).first()
    if row is None or row.revoked_at is not None:
        return None
    token = _token(row)
    now = now_ms()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY_MS:
        async with store.write() as conn:
            await conn.execute(update(api_tokens).where(api_tokens.c.id == token.id)
                               .values(last_used_at=now))
    return token
