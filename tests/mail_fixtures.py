"""Real SMTP on loopback: an aiosmtpd server that keeps what it receives, and a chatserver
that sends to it and listens for replies itself."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from dns_zone import Zone, publish_key
from sqlalchemy import update

from chatserver import sites
from chatserver.store import Store
from chatserver.store.schema import contacts
from chatserver.store.schema import sites as sites_table
from conftest import Server, free_port

INBOUND_SECRET = "inbound-secret-for-tests"
MAIL_DOMAIN = "help.example"
# Mail takes a poll (1 s) plus an SMTP conversation on loopback; retries back off from 0.2 s.
MAIL_TIMEOUT = 15.0


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())

    @property
    def html(self) -> str:
        body = self.message.get_body(preferencelist=("html",))
        assert body is not None
        return str(body.get_content())


class Sink:
    """An aiosmtpd SMTP server on a loopback port that keeps every mail it accepts."""

    def __init__(self, port: int | None = None, **smtp: Any) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.smtp = smtp
        self.controller: Controller | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **self.smtp)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def wait(self, count: int = 1, timeout: float = MAIL_TIMEOUT, **match: str) -> list[Received]:
        """Return the first count mails whose headers equal match; fail after timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [r for r in self.received
                     if all(str(r.message.get(k, "")) == v for k, v in match.items())]
            if len(found) >= count:
                return found[:count]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{len(found)} of {count} mails {match} within {timeout}s; "
                                     f"got {[str(r.message['Subject']) for r in self.received]}")
            await asyncio.sleep(0.05)

    async def to(self, address: str, timeout: float = MAIL_TIMEOUT) -> Received:
        """Return the first mail for address."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for r in self.received:
                if address in r.rcpt_tos:
                    return r
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no mail to {address} within {timeout}s")
            await asyncio.sleep(0.05)


@pytest.fixture
def sink() -> Iterator[Sink]:
    running = Sink()
    running.start()
    yield running
    running.stop()


class MailServer(Server):
    """A chatserver that sends to a Sink and listens for replies on smtp_port."""

    def __init__(self, data_dir: Path, sink: Sink, env: dict[str, str], zone: Zone | None = None) -> None:
        self.smtp_port = free_port()
        super().__init__(
            data_dir,
            {
                "SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
                "CHATSERVER_MAIL_DOMAIN": MAIL_DOMAIN,
                "CHATSERVER_INBOUND_SECRET": INBOUND_SECRET,
                "CHATSERVER_MAIL_RETRY_SECONDS": "0.2",
                **({"CHATSERVER_MAIL_DNS": zone.address} if zone else {}),
                **env,
            },
            ["--smtp-port", str(self.smtp_port)],
        )

    async def set_site(self, site: sites.Site, **settings: Any) -> None:
        store = Store(self.store_url)
        try:
            async with store.write() as conn:
                await conn.execute(update(sites_table).where(sites_table.c.id == site.id)
                                   .values(settings=settings))
        finally:
            await store.close()
        # The server sees a change made by another process within this (sites.py).
        await asyncio.sleep(sites.CACHE_SECONDS)

    async def set_contact(self, contact_id: str, **values: str) -> None:
        store = Store(self.store_url)
        try:
            async with store.write() as conn:
                await conn.execute(update(contacts).where(contacts.c.id == contact_id).values(**values))
        finally:
            await store.close()

    async def api(
        self, method: str, path: str, cookie: str | None = None, body: Any = None, **kw: Any
    ) -> httpx.Response:
        headers = {"Cookie": f"chatserver_session={cookie}"} if cookie else {}
        async with httpx.AsyncClient() as http:
            return await http.request(
                method, self.http + path, headers={**headers, **kw.pop("headers", {})},
                content=json.dumps(body) if body is not None else kw.pop("content", None), **kw,
            )


def code_in(mail: Received) -> str:
    """Return the one-time code of a verify_email mail."""
    found = re.search(r"^\s+([0-9]{6})\s*$", mail.text, re.MULTILINE)
    assert found, mail.text
    return found.group(1)


async def prove(guest: Any, sink: Sink, email: str) -> None:
    """Prove an address as a visitor does: ask for a code, read it from the mail, type it."""
    before = len(sink.received)
    await guest.send(type="verify_email", email=email)
    assert (await guest.expect("email_proof", email=email))["proven"] is False
    deadline = asyncio.get_running_loop().time() + MAIL_TIMEOUT
    while not [r for r in sink.received[before:] if email in r.rcpt_tos]:
        assert asyncio.get_running_loop().time() < deadline, f"no code mailed to {email}"
        await asyncio.sleep(0.05)
    mail = [r for r in sink.received[before:] if email in r.rcpt_tos][-1]
    await guest.send(type="confirm_email", email=email, code=code_in(mail))
    assert (await guest.expect("email_proof", email=email))["proven"] is True


@pytest.fixture
def zone() -> Iterator[Zone]:
    """The DNS the mail server asks; example.com (the customers' domain) signs its mail."""
    running = Zone()
    publish_key(running, "example.com")
    yield running
    running.close()


@pytest.fixture
def mail_env() -> dict[str, str]:
    """More environment for mail_server; a test overrides it to change a setting."""
    return {}


@pytest.fixture
def mail_server(
    data_dir: Path, database_env: dict[str, str], sink: Sink, zone: Zone, mail_env: dict[str, str]
) -> Iterator[MailServer]:
    running = MailServer(data_dir, sink, {**database_env, **mail_env}, zone)
    running.start()
    yield running
    running.stop()
