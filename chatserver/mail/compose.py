"""Compose ticket mails from jinja2 templates (text and HTML), in the catalogues' languages. Pure.

A mail is rendered once, when the event it tells about is stored, and sent byte for byte:
a retry carries the same Message-ID, so a mail client shows a duplicate from the crash
window as one message.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

import jinja2

from chatserver import i18n
from chatserver.mail.addresses import ReplyAddresses, check_address, header_text
from chatserver.mail.settings import MailSettings

# A transcript is a chat mailed to its visitor (transcripts.py): no ticket, no Reply-To.
Kind = Literal["confirmation", "reply", "notification", "transcript", "email_code"]
LOCALES = i18n.LOCALES
# RFC 5322 asks for the parent's References plus its Message-ID; clients cope with a long
# chain, but a ticket answered a hundred times needs only the root and the latest few.
MAX_REFERENCES = 10

_templates = i18n.install(jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"], default_for_string=False, default=False),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
))


@dataclass(frozen=True)
class Party:
    address: str
    name: str | None = None


@dataclass(frozen=True)
class Outgoing:
    kind: Kind
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    raw: bytes


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _address(party: Party) -> Address:
    # Address quotes and RFC 2047-encodes the display name; check_address has already
    # refused anything but a plain addr-spec, so no part of it can end a header line.
    name = header_text(party.name or "", 120)
    local, domain = check_address(party.address).rsplit("@", 1)
    return Address(display_name=name, username=local, domain=domain)


class Composer:
    """Builds the mails of tickets and their reply addresses, for one mail domain."""

    def __init__(self, settings: MailSettings, secret: str) -> None:
        self.settings = settings
        self.replies = ReplyAddresses(secret, settings.domain)

    def new_message_id(self) -> str:
        return f"<{secrets.token_urlsafe(18)}@{self.settings.domain}>"

    def compose(
        self,
        kind: Kind,
        locale: str,
        *,
        to: Party,
        from_name: str,
        ticket_id: str | None,
        thread: list[str],
        context: dict[str, Any],
        message_id: str | None = None,
        now_ms: int,
    ) -> Outgoing:
        """Render one mail; thread holds the Message-IDs it follows, the root first."""
        locale = locale if locale in LOCALES else "en"
        reply_address = self.replies.for_ticket(ticket_id) if ticket_id else None
        values = {**context, "when": _time, "reply_address": reply_address, "locale": locale}
        text_module = _templates.get_template(f"{kind}.txt").make_module(values)
        html = _templates.get_template(f"{kind}.html").render(values)
        message_id = message_id or self.new_message_id()

        mail = EmailMessage(policy=policy.SMTP)
        mail["Subject"] = header_text(str(getattr(text_module, "subject", "")))
        mail["From"] = _address(Party(self.settings.from_address, from_name))
        mail["To"] = _address(to)
        if reply_address:
            mail["Reply-To"] = _address(Party(reply_address, from_name))
        mail["Date"] = format_datetime(datetime.fromtimestamp(now_ms / 1000, UTC))
        mail["Message-ID"] = message_id
        if thread:
            earlier = [thread[0], *thread[1:][-(MAX_REFERENCES - 1):]]
            mail["In-Reply-To"] = thread[-1]
            mail["References"] = " ".join(dict.fromkeys(earlier))
        if kind != "reply":
            # Out-of-office robots must not answer confirmations and notifications (RFC 3834).
            mail["Auto-Submitted"] = "auto-generated"
        if ticket_id:
            mail["X-Chatserver-Ticket"] = ticket_id
        mail.set_content(str(text_module))
        mail.add_alternative(html, subtype="html")
        return Outgoing(
            kind, message_id, self.settings.from_address, (check_address(to.address),),
            mail.as_bytes(policy=policy.SMTP),
        )
