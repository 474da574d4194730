"""The new part of an email reply: quoted history and signatures cut off. Pure."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Every mail chatserver sends starts with this line (see templates/), so whatever a mail
# client quotes below a customer's answer is cut even when it does not mark the quote.
REPLY_MARKERS = ("reply above this line", "antwoord boven deze regel")

_ATTRIBUTION = re.compile(
    r"^(on|op|am|le)\b.{0,300}\b(wrote|schreef|schrieb|a écrit)\b.{0,40}:\s*$", re.I | re.S
)
_SEPARATOR = re.compile(
    r"^(-{2,}|_{5,})\s*(original message|oorspronkelijk bericht|forwarded message|"
    r"doorgestuurd bericht)?\s*-*\s*$",
    re.I,
)
_OUTLOOK_HEADER = re.compile(r"^(from|van|sent|verzonden|date|datum|to|aan|subject|onderwerp):\s", re.I)
_MOBILE = re.compile(r"^(sent from my|verzonden (vanaf|met) mijn|verstuurd (vanaf|met) mijn)\b", re.I)


def visible_reply(text: str) -> str:
    """Return what the person wrote above the quoted history and their signature.

    When nothing is left (a reply written inline in the quote), the whole text is returned:
    a customer's words are never thrown away.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        lower = stripped.lower()
        if any(marker in lower for marker in REPLY_MARKERS):
            break
        # "On Mon, 1 Jan 2026, Anna <a@b.nl> wrote:" may be wrapped over two lines.
        joined = " ".join(lines[index:index + 2]).strip()
        if _ATTRIBUTION.match(stripped) or (
            re.match(r"^(on|op)\s", lower) and _ATTRIBUTION.match(joined)
        ):
            break
        if line in ("-- ", "--") or (stripped and _SEPARATOR.match(stripped)):
            break
        if _OUTLOOK_HEADER.match(stripped) and _looks_like_header_block(lines[index:index + 5]):
            break
        if _MOBILE.match(stripped):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    reply = "\n".join(kept).strip()
    return reply or text.strip()


def _looks_like_header_block(lines: list[str]) -> bool:
    return sum(1 for line in lines if _OUTLOOK_HEADER.match(line.strip())) >= 2


class _TextOfHtml(HTMLParser):
    """Collects the text of an HTML body, leaving out quotes, scripts and styles."""

    _SKIP = {"blockquote", "script", "style", "head"}
    _NESTING = _SKIP | {"div"}
    _BREAK = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "table"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = " ".join(value or "" for key, value in attrs if key == "class")
        if self._skipping:
            # Count nested blocks so a quote ends at its own closing tag.
            self._skipping += tag in self._NESTING
        elif tag in self._SKIP or "gmail_quote" in classes:
            self._skipping = 1
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            self._skipping -= tag in self._NESTING
        elif tag in self._BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Return the readable text of an HTML mail body, without its quoted parts."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()
