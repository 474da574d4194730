"""What a file is, read from its first bytes, and how it may be served: pure rules, no I/O.

The name and the type a browser sends are the uploader's word; only the bytes decide. Just
four raster image types are shown inline (SVG is not: it is a document that can run script);
everything else is a download, and the browser is told not to guess (nosniff) and that the
response may run nothing (a sandbox CSP), so even a file sent from the console's own origin
never acts as a page there.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Enough for every signature below and for a browser's own HTML sniffing, which reads 512
# bytes; markup hidden further in is never looked at by a browser told nosniff.
HEAD_BYTES = 4096

# Shown in <img>: raster formats browsers decode without running anything.
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Served as their own type, always as a download: what a reader opens in its own program.
SAFE_DOWNLOADS = frozenset({"application/pdf", "application/zip", "text/plain; charset=utf-8"})
OCTET_STREAM = "application/octet-stream"

# Every response carrying a stored file gets these: the browser neither guesses a type nor
# runs anything, whatever the bytes are, and nothing on another site may frame it.
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=3600",
}

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)
# What makes a browser (or a careless sniffing one) treat bytes as a document: a file whose
# head holds any of these is never shown inline, whatever it starts with (a GIF/HTML polyglot).
_MARKUP = re.compile(
    rb"<\s*(?:!doctype|html|head|body|script|svg|iframe|object|embed|a\s|img|style|meta|xml|\?xml)"
    rb"|javascript:",
    re.IGNORECASE,
)
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class Served:
    """How a stored file goes out: its Content-Type and whether it is shown inline."""

    content_type: str
    inline: bool


def sniff(head: bytes) -> str:
    """Return the type the first bytes show; application/octet-stream when none is known."""
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if _plain_text(head):
        return "text/plain; charset=utf-8"
    return OCTET_STREAM


def _plain_text(head: bytes) -> bool:
    if not head or b"\x00" in head or _MARKUP.search(head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as cut:
        # The head may end inside a character: only a fault before its last 3 bytes counts.
        if cut.start < len(head) - 3:
            return False
    return True


def served(content_type: str, head: bytes) -> Served:
    """Decide how a file of this sniffed type, with this head, is served."""
    if content_type in INLINE_IMAGES:
        if _MARKUP.search(head):
            return Served(OCTET_STREAM, False)
        return Served(content_type, True)
    if content_type in SAFE_DOWNLOADS:
        return Served(content_type, False)
    return Served(OCTET_STREAM, False)


def clean_name(name: str) -> str:
    """Return a file name fit to show and to send in a header: no path, no control characters."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        name = name[: MAX_NAME_CHARS - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return name or "file"


def disposition(name: str, inline: bool) -> str:
    """Return the Content-Disposition for a file: its name in ASCII and in UTF-8 (RFC 6266)."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._- ()") else "_" for c in name)
    quoted = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else
                     "".join(f"%{b:02X}" for b in c.encode()) for c in name)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name or 'file'}\"; filename*=UTF-8''{quoted}"


def headers(name: str, how: Served, size: int) -> dict[str, str]:
    """Return every header a file's download carries."""
    return {**SAFE_HEADERS, "Content-Type": how.content_type, "Content-Length": str(size),
            "Content-Disposition": disposition(name, how.inline)}
