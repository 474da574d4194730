"""The inbound SMTP listener (aiosmtpd), bounded: what one message may hold, and what one
address may open and send. Anything past a bound is refused in SMTP, before it is stored."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from chatserver.mail.authentication import Origin
from chatserver.mail.settings import MailSettings

if TYPE_CHECKING:
    from chatserver.runtime import Runtime

log = logging.getLogger("chatserver.mail")

MINUTE = 60.0


class Doors:
    """Per-address counts in this process: open connections, and messages in the last minute."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self.open: Counter[str] = Counter()
        self.sent: dict[str, deque[float]] = {}

    def enter(self, ip: str) -> bool:
        if self.open[ip] >= self.settings.connections_per_ip:
            return False
        self.open[ip] += 1
        return True

    def leave(self, ip: str) -> None:
        self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]

    def may_send(self, ip: str, now: float) -> bool:
        """Count one more message from ip, unless it already sent its share this minute."""
        times = self.sent.setdefault(ip, deque())
        while times and times[0] <= now - MINUTE:
            times.popleft()
        if len(times) >= self.settings.messages_per_ip_minute:
            return False
        times.append(now)
        if len(self.sent) > 10_000:  # forget addresses that went quiet, so memory stays bounded
            self.sent = {k: v for k, v in self.sent.items() if v and v[-1] > now - MINUTE}
        return True


class _Smtp(SMTP):
    """aiosmtpd's SMTP session, refusing a connection when its address has too many open."""

    def __init__(self, handler: Handler, **options: Any) -> None:
        super().__init__(handler, **options)
        self.doors = handler.doors
        self.ip: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        if self.ip is None and not self.doors.enter(ip):
            log.warning("event=smtp_refused ip=%s why=connections", ip)
            # uvloop's transports are no asyncio.WriteTransport subclasses, but write all the same.
            refusal = b"421 4.7.0 too many connections from your address, try again later\r\n"
            transport.write(refusal)  # type: ignore[attr-defined]
            transport.close()
            return
        self.ip = self.ip or ip
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self.ip is None:
            return  # refused at the door: aiosmtpd never saw it
        self.doors.leave(self.ip)
        self.ip = None
        super().connection_lost(error)


class Handler:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.settings = rt.settings.mail
        self.doors = Doors(self.settings)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        ip = str(session.peer[0]) if session.peer else ""
        if not self.doors.may_send(ip, time.monotonic()):
            log.warning("event=smtp_refused ip=%s why=messages", ip)
            return (f"451 4.7.1 too many messages from your address (at most "
                    f"{self.settings.messages_per_ip_minute} a minute), try again later")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        domains = self.settings.inbound_domains
        if address.rpartition("@")[2].lower() not in domains:
            return f"550 5.1.2 {address}: this server takes mail for {', '.join(sorted(domains))} only"
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return (f"452 4.5.3 too many recipients: at most {self.settings.max_recipients} "
                    "recipients a message")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        from chatserver.mail.inbound import receive

        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content or "").encode()
        origin = Origin(str(session.peer[0]) if session.peer else "", envelope.mail_from or "",
                        session.host_name or "")
        try:
            verdict = await receive(self.rt, raw, [str(r) for r in envelope.rcpt_tos], origin)
        except Exception:
            log.exception("event=inbound_failed")
            # A temporary failure: the sending server keeps the mail and tries again later.
            return "451 Requested action aborted: error in processing"
        log.info("event=mail_received via=smtp outcome=%s ticket=%s", verdict.outcome,
                 verdict.ticket_id)
        return "250 Message accepted for delivery"


async def listen(rt: Runtime, host: str, port: int) -> asyncio.Server:
    """Start the inbound SMTP listener on host:port in this event loop."""
    handler = Handler(rt)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Smtp(handler, data_size_limit=rt.settings.mail.max_message_bytes,
                      hostname=rt.settings.mail.domain, ident="chatserver", decode_data=False),
        host=host, port=port,
    )
    log.info("event=smtp_listening host=%s port=%d", host, port)
    return server
