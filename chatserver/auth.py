"""Who is who: visitor tokens, agent passwords and sessions, the instance secret."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, insert, select

from chatserver.store import Store, now_ms
from chatserver.store.schema import agent_sessions, instance

# A visitor who comes back within half a year finds their conversations again; the widget
# renews the token on every visit, so only visitors gone longer start afresh.
VISITOR_TOKEN_MAX_AGE_SECONDS = 180 * 24 * 3600
# An agent stays signed in for two weeks of inactivity-independent use; then signs in again.
SESSION_MAX_AGE_SECONDS = 14 * 24 * 3600
SESSION_COOKIE = "chatserver_session"

_hasher = PasswordHasher()
# Hashing a password for an unknown email costs the same as for a known one.


def hash_password(password: str) -> str:
    """Return the argon2 hash of a password; raise ValueError if it is too weak."""
    if len(password) < 10:
        raise ValueError("password must be at least 10 characters")
    if len(password) > 1024:
        raise ValueError("password must be at most 1024 characters")
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown addresses against, as slow as a real one; made on first use
    (it costs a quarter second of CPU, which every CLI command would pay at import)."""
    return _hasher.hash(secrets.token_hex(16))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Tell whether password matches the hash; None compares against a dummy hash."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    """Return a random password that is easy to copy (16 url-safe characters)."""
    return secrets.token_urlsafe(12)


async def instance_secret(store: Store) -> str:
    """Return the secret that signs tokens and cookies, creating it on first use.

    It lives in the store so that every process sharing the database shares it.
    """
    async with store.write() as conn:
        row = (await conn.execute(select(instance.c.value).where(instance.c.key == "secret"))).first()
        if row:
            return str(row.value)
        secret = secrets.token_urlsafe(32)
        await conn.execute(insert(instance).values(key="secret", value=secret))
        return secret


@dataclass(frozen=True)
class VisitorIdentity:
    site_id: str
    contact_id: str


class Signer:
    """Signs and checks visitor tokens and session cookies with the instance secret."""

    def __init__(self, secret: str) -> None:
        self._visitors = URLSafeTimedSerializer(secret, salt="chatserver.visitor")
        self._sessions = URLSafeTimedSerializer(secret, salt="chatserver.session")
        self._files = URLSafeTimedSerializer(secret, salt="chatserver.file")
        self._csrf_key = hashlib.sha256(b"chatserver.csrf|" + secret.encode()).digest()

    def visitor_token(self, identity: VisitorIdentity) -> str:
        return self._visitors.dumps({"s": identity.site_id, "c": identity.contact_id})

    def visitor(self, token: str) -> VisitorIdentity | None:
        """Return the identity in a valid, unexpired token, or None."""
        try:
            data = self._visitors.loads(token, max_age=VISITOR_TOKEN_MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not {"s", "c"} <= data.keys():
            return None
        return VisitorIdentity(str(data["s"]), str(data["c"]))

    def session_cookie(self, session_id: str) -> str:
        return self._sessions.dumps(session_id)

    def csrf_token(self, nonce: str, session_id: str | None) -> str:
        """Return the form token for a browser's CSRF nonce, bound to its session if any."""
        message = f"{nonce}|{session_id or ''}".encode()
        return hmac.new(self._csrf_key, message, "sha256").hexdigest()

    def file_link(self, file_id: str) -> str:
        """Return a signature that lets whoever holds it fetch one file for a while (mail links)."""
        return self._files.dumps(file_id)

    def file_of_link(self, signature: str, max_age: int) -> str | None:
        """Return the file id a signature grants, or None when it is wrong or too old."""
        try:
            value = self._files.loads(signature, max_age=max_age)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None

    def session_id(self, cookie: str) -> str | None:
        try:
            value = self._sessions.loads(cookie, max_age=SESSION_MAX_AGE_SECONDS)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(store: Store, agent_id: str) -> str:
    """Start a session for the agent and return its id (stored only as a hash)."""
    session_id = secrets.token_urlsafe(32)
    now = now_ms()
    async with store.write() as conn:
        await conn.execute(
            insert(agent_sessions).values(
                id_hash=_hash(session_id), agent_id=agent_id, created_at=now,
                expires_at=now + SESSION_MAX_AGE_SECONDS * 1000,
            )
        )
    return session_id


async def session_agent(store: Store, session_id: str) -> str | None:
    """Return the agent id of a live session, or None."""
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(agent_sessions.c.agent_id).where(
                    agent_sessions.c.id_hash == _hash(session_id),
                    agent_sessions.c.expires_at > now_ms(),
                )
            )
        ).first()
    return str(row.agent_id) if row else None


async def close_session(store: Store, session_id: str) -> None:
    """End one session."""
    async with store.write() as conn:
        await conn.execute(delete(agent_sessions).where(agent_sessions.c.id_hash == _hash(session_id)))


async def close_agent_sessions(store: Store, agent_id: str) -> None:
    """End every session of the agent (their open sockets are closed through the hub)."""
    async with store.write() as conn:
        await conn.execute(delete(agent_sessions).where(agent_sessions.c.agent_id == agent_id))
