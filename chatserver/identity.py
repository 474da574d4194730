"""Signed-in users: a site's backend vouches for who a visitor is with an HMAC that expires.

The site computes, on its server, with the identity secret from its settings page:

    hash = hex(HMAC-SHA256(secret, f"{user_id}:{email}:{expires}"))

where expires is a Unix time in seconds. Only a valid, unexpired hash lets a visitor join
the contact that already carries that user id; anything unsigned stays with the anonymous
visitor and never merges into someone else's history.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

# A hash valid for a year would be a password in the page source; a day covers a long
# session and sites re-sign on every page load anyway.
MAX_LIFETIME_SECONDS = 7 * 24 * 3600
MAX_FIELD_CHARS = 320


class IdentityError(ValueError):
    """A claimed identity that is malformed, expired or not signed by the site."""


@dataclass(frozen=True)
class Claim:
    user_id: str
    name: str | None
    email: str | None
    expires: int
    hash: str


def sign(secret: str, user_id: str, email: str | None, expires: int) -> str:
    """Return the hash a site's backend sends along with a signed-in user."""
    message = f"{user_id}:{email or ''}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse(data: Any) -> Claim:
    """Read an identity claim from a request body; raise IdentityError naming the problem."""
    if not isinstance(data, dict):
        raise IdentityError("identity must be an object with id, hash and expires")
    user_id, hash_, expires = data.get("id"), data.get("hash"), data.get("expires")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 200:
        raise IdentityError("identity.id must be text of 1-200 characters")
    if not isinstance(hash_, str) or len(hash_) != 64:
        raise IdentityError("identity.hash must be the 64 hex digits of an HMAC-SHA256")
    if type(expires) is not int:
        raise IdentityError("identity.expires must be a Unix time in seconds")
    return Claim(user_id, _text(data.get("name")), _text(data.get("email")), expires, hash_)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS or "\n" in value or "\r" in value:
        raise IdentityError(f"names and emails must be one line of at most {MAX_FIELD_CHARS} characters")
    return value.strip() or None


def verify(secret: str, claim: Claim, now: float | None = None) -> None:
    """Raise IdentityError unless the site signed this claim and it has not expired."""
    now = time.time() if now is None else now
    if claim.expires < now:
        raise IdentityError("identity hash has expired; sign it again on the site's server")
    if claim.expires > now + MAX_LIFETIME_SECONDS:
        raise IdentityError(f"identity expires too far ahead (at most {MAX_LIFETIME_SECONDS} s)")
    expected = sign(secret, claim.user_id, claim.email, claim.expires)
    if not hmac.compare_digest(expected, claim.hash.lower()):
        raise IdentityError("identity hash does not match: check the secret and the fields signed")
