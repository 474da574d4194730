"""Mail settings from the environment: where mail goes out, how it comes back in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# The first retry comes after half a minute, then each wait doubles: a mail server restarted
# for an upgrade is back well within the first few tries, and one down for hours is not hammered.
DEFAULT_RETRY_SECONDS = 30.0
# Ten tries with doubling waits (capped at an hour) span about six hours before a mail is a
# dead letter; dead letters stay in the outbox for an admin, so nothing is lost even then.
DEFAULT_MAX_ATTEMPTS = 10
# A visitor silent this long after an unanswered question has left; their question becomes
# a ticket if they gave an address.
DEFAULT_GRACE_SECONDS = 15 * 60
DEFAULT_DOMAIN = "chatserver.local"
# Inbound mail. Providers accept 25-35 MB, but a reply to a support ticket with a few photos
# fits in 10 MiB, and the listener holds a whole message in memory while it checks it.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# A reply goes to one reply address, maybe with a Cc or two; more is a spray.
DEFAULT_MAX_RECIPIENTS = 20
# A provider's outbound relay keeps a few connections open to one receiver; a dozen at once
# from one address is a flood, and each holds a listener slot.
DEFAULT_CONNECTIONS_PER_IP = 10
# Customers' replies arrive a few a minute even from a big provider's shared relay.
DEFAULT_MESSAGES_PER_IP_MINUTE = 60
# Held mail waits for an admin; past this the oldest goes first (logged), so a flood of junk
# costs the store at most this many raw mails (each at most DEFAULT_MAX_BYTES).
DEFAULT_QUARANTINE_CAP = 1000


class MailConfigError(ValueError):
    """A mail setting that cannot be used."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    # "tls": TLS from the first byte (smtps://); "starttls": required upgrade;
    # "auto": upgrade when the server offers it (smtp://).
    security: str


@dataclass(frozen=True)
class MailSettings:
    smtp_url: str = ""  # empty: write .eml files into <data dir>/outbox
    domain: str = DEFAULT_DOMAIN  # right-hand side of Message-IDs and reply addresses
    sender: str = ""  # the From address; support@<domain> when empty
    inbound_secret: str = ""  # empty: POST /api/v1/inbound-mail is off
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    dns_server: str = ""  # host[:port] to check SPF/DKIM/DMARC with; empty: the system's resolver
    max_message_bytes: int = DEFAULT_MAX_BYTES
    max_recipients: int = DEFAULT_MAX_RECIPIENTS
    connections_per_ip: int = DEFAULT_CONNECTIONS_PER_IP
    messages_per_ip_minute: int = DEFAULT_MESSAGES_PER_IP_MINUTE
    quarantine_cap: int = DEFAULT_QUARANTINE_CAP

    @property
    def from_address(self) -> str:
        return self.sender or f"support@{self.domain}"

    @property
    def inbound_domains(self) -> frozenset[str]:
        """Return the domains the SMTP listener takes mail for: reply addresses and From's."""
        return frozenset({self.domain.lower(), self.from_address.rpartition("@")[2].lower()})

    def smtp(self) -> SmtpTarget | None:
        """Return where to send mail, or None to write .eml files."""
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse smtp://, smtp+starttls:// or smtps://[user:password@]host[:port]."""
    parts = urlsplit(url)
    security = {"smtp": "auto", "smtp+starttls": "starttls", "smtps": "tls"}.get(parts.scheme)
    if security is None or not parts.hostname:
        raise MailConfigError(
            f"SMTP_URL must look like smtp://user:password@host:587 (or smtps://, "
            f"smtp+starttls://), not {parts.scheme or '(no scheme)'}://..."
        )
    try:
        port = parts.port or (465 if security == "tls" else 587 if parts.username else 25)
    except ValueError:
        raise MailConfigError("SMTP_URL has a port that is not a number") from None
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        security=security,
    )


def _number(env: dict[str, str], key: str, default: float, low: float, high: float) -> float:
    raw = env.get(key, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise MailConfigError(f"{key}={raw!r}: expected a number from {low:g} to {high:g}")
    return value


def from_env(environ: dict[str, str] | None = None) -> MailSettings:
    """Build mail settings from SMTP_URL and the CHATSERVER_MAIL_* variables."""
    from chatserver.mail.addresses import AddressError, check_address

    env = dict(os.environ if environ is None else environ)
    settings = MailSettings(
        smtp_url=env.get("SMTP_URL", ""),
        domain=env.get("CHATSERVER_MAIL_DOMAIN", "") or DEFAULT_DOMAIN,
        sender=env.get("CHATSERVER_MAIL_FROM", ""),
        inbound_secret=env.get("CHATSERVER_INBOUND_SECRET", ""),
        retry_seconds=_number(env, "CHATSERVER_MAIL_RETRY_SECONDS", DEFAULT_RETRY_SECONDS, 0.1, 86400),
        max_attempts=int(_number(env, "CHATSERVER_MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, 1, 100)),
        grace_seconds=_number(
            env, "CHATSERVER_TICKET_GRACE_SECONDS", DEFAULT_GRACE_SECONDS, 1, 7 * 86400
        ),
        dns_server=env.get("CHATSERVER_MAIL_DNS", ""),
        max_message_bytes=int(_number(env, "CHATSERVER_MAIL_MAX_BYTES", DEFAULT_MAX_BYTES, 1024, 100 << 20)),
        max_recipients=int(_number(env, "CHATSERVER_MAIL_MAX_RECIPIENTS", DEFAULT_MAX_RECIPIENTS, 1, 1000)),
        connections_per_ip=int(
            _number(env, "CHATSERVER_MAIL_CONNECTIONS_PER_IP", DEFAULT_CONNECTIONS_PER_IP, 1, 10_000)
        ),
        messages_per_ip_minute=int(_number(
            env, "CHATSERVER_MAIL_MESSAGES_PER_IP_MINUTE", DEFAULT_MESSAGES_PER_IP_MINUTE, 1, 100_000
        )),
        quarantine_cap=int(
            _number(env, "CHATSERVER_MAIL_QUARANTINE_CAP", DEFAULT_QUARANTINE_CAP, 1, 10_000_000)
        ),
    )
    settings.smtp()  # a bad SMTP_URL fails at start, not at the first mail
    if settings.dns_server:
        from chatserver.mail.authentication import resolver

        try:
            resolver(settings.dns_server)
        except ValueError:
            raise MailConfigError(
                f"CHATSERVER_MAIL_DNS={settings.dns_server!r}: expected an IP address, "
                "optionally with :port"
            ) from None
    try:
        check_address(settings.from_address)
        check_address(f"x@{settings.domain}")
    except AddressError as bad:
        raise MailConfigError(f"CHATSERVER_MAIL_FROM / CHATSERVER_MAIL_DOMAIN: {bad}") from None
    return settings
