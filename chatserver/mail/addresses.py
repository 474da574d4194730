"""Addresses and header text: what may reach a mail header, and signed reply addresses.

Everything here is pure. A name or address that a visitor typed is checked when it enters
(a clear error for CR/LF and other header tricks) and encoded again when a header is written
(email.headerregistry.Address quotes and RFC 2047-encodes), so neither layer alone is trusted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

MAX_ADDRESS_CHARS = 254  # RFC 5321's limit for a forward path
MAX_NAME_CHARS = 200
MAX_SUBJECT_CHARS = 200

# A plain dot-atom addr-spec, ASCII only: no quoted local parts, comments, spaces, angle
# brackets, commas or line breaks, which are the raw material of header injection.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(
    rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
    rf"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?)+)"
)
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: anything a header
# folding or a mail client might read as the end of a line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class AddressError(ValueError):
    """A name or address that cannot go into a mail header; the message says why."""


def check_address(address: str) -> str:
    """Return the address stripped; raise AddressError unless it is a plain address.

    The case is kept: a reply address carries a case-sensitive ticket id. Compare with lower().
    """
    if not isinstance(address, str):
        raise AddressError("an email address must be text")
    if _CONTROL.search(address):
        raise AddressError("an email address must not contain line breaks or control characters")
    address = address.strip()
    if len(address) > MAX_ADDRESS_CHARS:
        raise AddressError(f"an email address has at most {MAX_ADDRESS_CHARS} characters")
    match = _ADDRESS.fullmatch(address)
    if not match or len(match["local"]) > 64:
        raise AddressError(f"{address[:80]!r} is not an email address like name@example.com")
    return address


def check_name(name: str) -> str:
    """Return a person's name stripped; raise AddressError on line breaks or controls."""
    if not isinstance(name, str):
        raise AddressError("a name must be text")
    if _CONTROL.search(name):
        raise AddressError("a name must not contain line breaks or control characters")
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise AddressError(f"a name has 1 to {MAX_NAME_CHARS} characters")
    return name


def check_line(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """Return one line of text for a header (a subject); raise AddressError on line breaks."""
    if not isinstance(text, str):
        raise AddressError("must be text")
    if _CONTROL.search(text):
        raise AddressError("must be one line, without line breaks or control characters")
    text = " ".join(text.split())
    if not text or len(text) > limit:
        raise AddressError(f"must have 1 to {limit} characters")
    return text


def header_text(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """Return text fit for a header such as Subject: controls become spaces, cut at limit."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit]


_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,250}>")


def message_ids(value: str | None) -> list[str]:
    """Return the well-formed <...> Message-IDs in a header value, in order."""
    return _MESSAGE_ID.findall(value or "")


# A reply address is t.<ticket id>.<mac>@<domain>. The MAC is 100 bits of HMAC-SHA256,
# base32 in lower case so that a mail system folding the local part's case cannot break it;
# the whole local part stays under RFC 5321's 64 characters.
_REPLY = re.compile(r"t\.(?P<ticket>[A-Za-z0-9_-]{1,32})\.(?P<mac>[a-zA-Z2-7]{20})")


class ReplyAddresses:
    """Makes and checks the unguessable reply address of each ticket."""

    def __init__(self, secret: str, domain: str) -> None:
        self._key = hashlib.sha256(b"chatserver.reply-address\x00" + secret.encode()).digest()
        self.domain = domain

    def _mac(self, ticket_id: str) -> str:
        digest = hmac.new(self._key, ticket_id.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:20].lower()

    def for_ticket(self, ticket_id: str) -> str:
        return f"t.{ticket_id}.{self._mac(ticket_id)}@{self.domain}"

    def read(self, address: str) -> tuple[str | None, bool]:
        """Return (ticket id, True) for a valid reply address, (id, False) for a forged one.

        (None, False) means the address is not a reply address at all.
        """
        local = address.strip().strip("<>").rsplit("@", 1)[0]
        match = _REPLY.fullmatch(local)
        if not match:
            return None, False
        ticket_id = match["ticket"]
        return ticket_id, hmac.compare_digest(self._mac(ticket_id), match["mac"].lower())
