"""Signed-in users: a site's backend vouches for who a visitor is with an HMAC that expires.

The site computes, on its server, with the identity secret from its settings page:

    message = "chatserver-identity-v2" + "\\n" + user_id + "\\n" + email + "\\n" + str(expires)
    hash = hex(HMAC-SHA256(secret, message as UTF-8))

where email is "" when there is none and expires is a Unix time in seconds. Neither the id
nor the email may hold a line break (parse refuses them), so each message has one reading.
docs/widget.md has the recipes for Python, Node and PHP. Only a valid, unexpired hash lets a
visitor join the contact that already carries that user id; anything unsigned stays with the
anonymous visitor and never merges into someone else's history.

The first format, HMAC over f"{user_id}:{email}:{expires}", could be read two ways when the
id or email holds a ':' (id "a:b" with email "c@x" and id "a" with email "b:c@x" signed the
same message). It is accepted until LEGACY_ACCEPTED_UNTIL, and only for ids and emails
without a ':', so the one reading it has is the one meant.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any, Literal

# A hash valid for a year would be a password in the page source; a day covers a long
# session and sites re-sign on every page load anyway.
MAX_LIFETIME_SECONDS = 7 * 24 * 3600
MAX_FIELD_CHARS = 320
V2_LABEL = "chatserver-identity-v2"
# Six months after v2 was introduced (2026-11-29): sites that still send the old format are
# logged (event=identity_legacy_hash) meanwhile, and refused after this moment (UTC).
LEGACY_ACCEPTED_UNTIL_DAY = "2027-05-31"
LEGACY_ACCEPTED_UNTIL = calendar.timegm(time.strptime(LEGACY_ACCEPTED_UNTIL_DAY, "%Y-%m-%d"))

Format = Literal["v2", "v1"]


class IdentityError(ValueError):
    """A claimed identity that is malformed, expired or not signed by the site."""


@dataclass(frozen=True)
class Claim:
    user_id: str
    name: str | None
    email: str | None
    expires: int
    hash: str


def _hmac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign(secret: str, user_id: str, email: str | None, expires: int) -> str:
    """Return the hash a site's backend sends along with a signed-in user."""
    return _hmac(secret, "\n".join((V2_LABEL, user_id, email or "", str(expires))))


def legacy_sign(secret: str, user_id: str, email: str | None, expires: int) -> str:
    """Return the hash of the first, deprecated format (`id:email:expires`)."""
    return _hmac(secret, f"{user_id}:{email or ''}:{expires}")


def parse(data: Any) -> Claim:
    """Read an identity claim from a request body; raise IdentityError naming the problem."""
    if not isinstance(data, dict):
        raise IdentityError("identity must be an object with id, hash and expires")
    user_id, hash_, expires = data.get("id"), data.get("hash"), data.get("expires")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 200:
        raise IdentityError("identity.id must be text of 1-200 characters")
    if "\n" in user_id or "\r" in user_id:
        raise IdentityError("identity.id must be one line")
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


def verify(secret: str, claim: Claim, now: float | None = None) -> Format:
    """Return the format the site signed this claim in; raise IdentityError unless it is
    signed and unexpired."""
    now = time.time() if now is None else now
    if claim.expires < now:
        raise IdentityError("identity hash has expired; sign it again on the site's server")
    if claim.expires > now + MAX_LIFETIME_SECONDS:
        raise IdentityError(f"identity expires too far ahead (at most {MAX_LIFETIME_SECONDS} s)")
    given = claim.hash.lower()
    if hmac.compare_digest(sign(secret, claim.user_id, claim.email, claim.expires), given):
        return "v2"
    legacy = legacy_sign(secret, claim.user_id, claim.email, claim.expires)
    unambiguous = ":" not in claim.user_id and ":" not in (claim.email or "")
    if unambiguous and hmac.compare_digest(legacy, given):
        if now >= LEGACY_ACCEPTED_UNTIL:
            raise IdentityError(
                f"identity hash is in the old format (id:email:expires), refused since "
                f"{LEGACY_ACCEPTED_UNTIL_DAY}; sign the v2 message (docs/widget.md)"
            )
        return "v1"
    raise IdentityError("identity hash does not match: check the secret and the fields signed")
