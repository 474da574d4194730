"""The signature on every delivery, and the check a receiver runs. Pure.

    Chatserver-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

The timestamp is inside the signed text, so a captured delivery cannot be replayed with a
fresh time; a receiver refuses one older than its tolerance (five minutes is usual). A
retry is signed again with a new time, so the window holds however late it comes. `verify`
is what docs/webhooks.md asks receivers to copy.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Chatserver-Signature"
EVENT_HEADER = "Chatserver-Event"
ID_HEADER = "Chatserver-Event-Id"
# A delivery older than this is refused by verify: long enough for clock skew and a slow
# network, short enough that a captured request is soon useless.
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A delivery whose signature is missing, malformed, wrong or too old."""


def new_secret() -> str:
    """Return a fresh subscription secret (256 bits), shown to the admin once."""
    return "whsec_" + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """Return the signature header's value for body, signed now (or at timestamp)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={_mac(secret, at, body)}"


def verify(secret: str, body: bytes, header: str, tolerance: int = TOLERANCE_SECONDS,
           now: float | None = None) -> int:
    """Check a delivery's signature header against its raw body; return its timestamp.

    Raise SignatureError when it is malformed, does not match, or is older (or further in
    the future) than tolerance seconds.
    """
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    stamps = parts.get("t", [])
    if len(stamps) != 1 or not stamps[0].isdigit() or not parts.get("v1"):
        raise SignatureError("expected a header like t=<unix seconds>,v1=<hex>")
    timestamp = int(stamps[0])
    expected = _mac(secret, timestamp, body)
    # Any v1 may match: while a secret is rotated, a sender may sign with both.
    if not any(hmac.compare_digest(expected, given) for given in parts["v1"]):
        raise SignatureError("the signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"the signature is more than {tolerance} s old (or ahead)")
    return timestamp
