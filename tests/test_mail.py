"""Mail without a chat server: addresses and header safety, quote stripping, composing and
threading, settings, and the outbox claim on a real store and a real SMTP server."""

from __future__ import annotations

import asyncio
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from mail_fixtures import Sink
from sqlalchemy import update

from chatserver.mail import outbox
from chatserver.mail.addresses import AddressError, ReplyAddresses, check_address, check_name
from chatserver.mail.compose import Composer, Outgoing, Party
from chatserver.mail.quoting import html_to_text, visible_reply
from chatserver.mail.settings import MailConfigError, MailSettings, from_env, parse_smtp_url
from chatserver.store import Store
from chatserver.store.schema import outbox as outbox_table

# Addresses and headers -------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "a@b.example\r\nBcc: c@d.example", "a@b.example\nX: y", "a@b.example, c@d.example",
    "Ann <a@b.example>", '"a b"@example.com', "a@b", "a b@example.com", "a@b.example\x00",
    "é@example.com", "x" * 65 + "@example.com", "",
])
def test_addresses_that_could_trick_a_header_are_refused(address: str) -> None:
    with pytest.raises(AddressError):
        check_address(address)


def test_plain_addresses_and_names_pass() -> None:
    assert check_address(" Ann.de-Vries+shop@Mail.Example.com ") == "Ann.de-Vries+shop@Mail.Example.com"
    assert check_name("  Ann   \"the boss\" <de Vries> ") == 'Ann "the boss" <de Vries>'
    for name in ("Ann\r\nBcc: x@y.example", "Ann\x85x", "Ann\u2029", ""):
        with pytest.raises(AddressError):
            check_name(name)


def test_reply_addresses_are_signed_per_ticket() -> None:
    replies = ReplyAddresses("secret", "help.example")
    address = replies.for_ticket("Tk-1_a")
    assert address.startswith("t.Tk-1_a.") and address.endswith("@help.example")
    assert len(address.split("@")[0]) <= 64
    assert replies.read(address) == ("Tk-1_a", True)
    mac = address.split(".")[2].split("@")[0]
    # A mail system that folds the case of the MAC does not break it.
    assert replies.read(f"<t.Tk-1_a.{mac.upper()}@HELP.example>") == ("Tk-1_a", True)
    assert replies.read(f"t.Other.{mac}@help.example") == ("Other", False)  # a MAC is per ticket
    assert ReplyAddresses("other secret", "help.example").read(address) == ("Tk-1_a", False)
    assert replies.read("support@help.example") == (None, False)


# Quotes and signatures ------------------------------------------------------------------------


@pytest.mark.parametrize("mail", [
    "Thanks, it works!\n\nOn Mon, 5 Jan 2026 at 10:00, Shop <s@h.example> wrote:\n> old text\n",
    "Thanks, it works!\n\nOp ma 5 jan. 2026 om 10:00 schreef Shop <s@h.example>:\n> oud\n",
    "Thanks, it works!\n\nOn Mon, 5 Jan 2026 at 10:00, Shop Support\n<s@h.example> wrote:\n> x\n",
    "Thanks, it works!\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\nold\n",
    "Thanks, it works!\n\nFrom: Shop <s@h.example>\nSent: Monday 10:00\nTo: Ann\nSubject: x\n",
    "Thanks, it works!\n-- \nAnn de Vries\nCEO, Example BV\n",
    "Thanks, it works!\n\nSent from my iPhone\n",
    "Thanks, it works!\n##- Please type your reply above this line -##\nYour question: x\n",
    "Thanks, it works!\n> ##- Typ je antwoord boven deze regel -##\n> oud\n",
])
def test_quoted_history_and_signatures_are_cut(mail: str) -> None:
    assert visible_reply(mail) == "Thanks, it works!"


def test_inline_answers_keep_their_words() -> None:
    assert visible_reply("> Which size?\nLarge, please.\n> Colour?\nBlue.") == "Large, please.\nBlue."
    # A reply that is all quote keeps everything rather than lose the customer's words.
    assert visible_reply("> only quoted") == "> only quoted"


def test_html_mail_becomes_text_without_its_quote() -> None:
    html = ('<div dir="ltr">Thanks <b>a lot</b>!<br>Ann</div><div class="gmail_quote">'
            '<div>On Mon wrote:</div><blockquote><div>old</div></blockquote></div>'
            '<script>alert(1)</script>')
    assert html_to_text(html) == "Thanks a lot!\nAnn"


# Composing --------------------------------------------------------------------------------------


def _compose(composer: Composer, **overrides: Any) -> Outgoing:
    values: dict[str, Any] = {
        "to": Party("ann@example.com", 'Ann "x" <evil@example.com>\u00e9'), "from_name": "Shop",
        "ticket_id": "T1", "thread": [], "now_ms": 1_800_000_000_000,
        "context": {"site_name": "Shop", "ticket": {"id": "T1", "subject": "Parcel", "source": "x"},
                    "contact_name": "Ann", "contact_email": "ann@example.com", "text": "Hi",
                    "transcript": [], "agent_name": "Bo", "event": "new"},
    }
    return composer.compose("reply", "nl", **{**values, **overrides})


def test_mails_thread_with_message_id_in_reply_to_and_references() -> None:
    composer = Composer(MailSettings(domain="help.example"), "secret")
    thread = [f"<m{n}@help.example>" for n in range(15)]
    mail = _compose(composer, thread=thread)
    message = BytesParser(policy=policy.default).parsebytes(mail.raw)
    assert message["Message-ID"] == mail.message_id and mail.message_id.endswith("@help.example>")
    assert message["In-Reply-To"] == "<m14@help.example>"
    references = str(message["References"]).split()
    assert references[0] == "<m0@help.example>" and references[-1] == "<m14@help.example>"
    assert len(references) == 10
    # The display name stays a name: quotes and angle brackets cannot add a recipient.
    assert message["To"].addresses[0].addr_spec == "ann@example.com"
    assert len(message["To"].addresses) == 1
    assert str(message["Subject"]) == "Re: [Shop] Parcel"
    assert "Typ je antwoord boven deze regel" in message.get_body(("plain",)).get_content()
    assert message["Reply-To"].addresses[0].addr_spec == composer.replies.for_ticket("T1")
    again = _compose(composer, message_id=mail.message_id)
    assert again.message_id == mail.message_id


def test_subjects_lose_line_breaks() -> None:
    composer = Composer(MailSettings(), "secret")
    context = {"site_name": "Shop", "ticket": {"id": "T1", "subject": "Hi\r\nBcc: x@evil.example",
               "source": "x"}, "contact_name": None, "contact_email": None, "text": "",
               "transcript": [], "agent_name": "Bo", "event": "new"}
    message = BytesParser(policy=policy.default).parsebytes(_compose(composer, context=context).raw)
    assert message["Bcc"] is None and "\n" not in str(message["Subject"])


# Settings ----------------------------------------------------------------------------------------


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://mail.example")
    assert (plain.host, plain.port, plain.security, plain.username) == ("mail.example", 25, "auto", None)
    login = parse_smtp_url("smtp+starttls://me%40x.example:p%3Ass@mail.example")
    assert (login.port, login.security, login.username, login.password) == (
        587, "starttls", "me@x.example", "p:ss")
    assert parse_smtp_url("smtps://u:p@mail.example").port == 465
    for bad in ("http://mail.example", "smtp://", "smtp://mail.example:port"):
        with pytest.raises(MailConfigError):
            parse_smtp_url(bad)
    with pytest.raises(MailConfigError, match="CHATSERVER_MAIL_RETRY_SECONDS"):
        from_env({"CHATSERVER_MAIL_RETRY_SECONDS": "soon"})
    with pytest.raises(MailConfigError, match="CHATSERVER_MAIL_FROM"):
        from_env({"CHATSERVER_MAIL_FROM": "support@x.example\r\nBcc: y@z.example"})


# The outbox on a real store ------------------------------------------------------------------------


async def _queue(store: Store, count: int) -> list[str]:
    composer = Composer(MailSettings(), "secret")
    ids = []
    async with store.write() as conn:
        for _ in range(count):
            ids.append(await outbox.enqueue(conn, _compose(composer), None))
    return ids


async def _claim_all(store: Store) -> list[outbox.Claimed]:
    """Claim every due mail, as a worker does, one by one."""
    claimed = [await outbox.claim(store, row_id) for row_id in await outbox.due(store, 100)]
    return [mail for mail in claimed if mail is not None]


async def test_a_slow_mail_server_never_makes_two_workers_send_one_mail(store_url: str) -> None:
    """Each mail's lease starts when it is sent, not when its batch was looked up."""
    store = Store(store_url)
    await store.migrate()
    try:
        await _queue(store, 3)
        sent: list[str] = []
        in_flight: set[str] = set()

        class Slow:
            async def send(self, mail: outbox.Claimed) -> None:
                # Each send is slow (up to the SMTP timeout): the clock runs past the lease of
                # every claim that is not being sent right now.
                in_flight.add(mail.id)
                async with store.write() as conn:
                    await conn.execute(update(outbox_table)
                                       .where(outbox_table.c.id.not_in(in_flight))
                                       .where(outbox_table.c.claimed_until.is_not(None))
                                       .values(claimed_until=0))
                await asyncio.sleep(0.05)
                in_flight.discard(mail.id)
                sent.append(mail.id)

        first = outbox.Worker(store, MailSettings(), Slow())
        second = outbox.Worker(store, MailSettings(), Slow())
        async def polls(worker: outbox.Worker) -> None:
            for _ in range(5):  # each worker polls on its own clock
                await worker.send_due()

        await asyncio.gather(polls(first), polls(second))
        assert sorted(sent) == sorted(set(sent)) and len(sent) == 3
    finally:
        await store.close()


async def test_two_workers_never_claim_the_same_mail(store_url: str) -> None:
    store = Store(store_url)
    await store.migrate()
    try:
        await _queue(store, 30)
        first, second = await asyncio.gather(_claim_all(store), _claim_all(store))
        claimed = [m.id for m in first + second]
        assert len(claimed) == len(set(claimed)) == 30
        assert await outbox.due(store) == []  # all leased
    finally:
        await store.close()


async def test_crash_window_resends_with_the_same_message_id(store_url: str) -> None:
    store = Store(store_url)
    await store.migrate()
    try:
        await _queue(store, 1)
        (taken,) = await _claim_all(store)
        # The worker died after sending and before marking: its lease runs out.
        async with store.write() as conn:
            await conn.execute(update(outbox_table).values(claimed_until=0))
        (again,) = await _claim_all(store)
        assert (again.id, again.message_id, again.raw) == (taken.id, taken.message_id, taken.raw)
        assert again.attempts == 2
    finally:
        await store.close()


class Refusing:
    async def send(self, mail: outbox.Claimed) -> None:
        raise OSError("connection refused")


async def test_mail_becomes_a_dead_letter_after_n_tries_and_can_be_retried(store_url: str) -> None:
    store = Store(store_url)
    await store.migrate()
    settings = MailSettings(retry_seconds=0.001, max_attempts=3)
    try:
        await _queue(store, 1)
        worker = outbox.Worker(store, settings, Refusing())
        for _ in range(5):
            await worker.send_due()
            await asyncio.sleep(0.02)
        assert await outbox.counts(store) == {"pending": 0, "sent": 0, "dead": 1}
        assert await outbox.retry_dead(store) == 1
        assert await outbox.counts(store) == {"pending": 1, "sent": 0, "dead": 0}
    finally:
        await store.close()
    assert outbox.backoff_ms(MailSettings(retry_seconds=30), 1) == 30_000
    assert outbox.backoff_ms(MailSettings(retry_seconds=30), 4) == 240_000
    assert outbox.backoff_ms(MailSettings(retry_seconds=30), 40) == 3_600_000


# aiosmtpd warns that AUTH without TLS is unsafe; on loopback in a test it is what we want.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_smtp_transport_signs_in(store_url: str) -> None:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"desk", b"pw")
        return AuthResult(success=ok)

    sink = Sink(authenticator=authenticate, auth_require_tls=False, auth_required=True)
    sink.start()
    store = Store(store_url)
    await store.migrate()
    try:
        await _queue(store, 1)
        target = parse_smtp_url(f"smtp://desk:pw@127.0.0.1:{sink.port}")
        worker = outbox.Worker(store, MailSettings(), outbox.SmtpTransport(target))
        assert await worker.send_due() == 1
        assert len(sink.received) == 1
        assert await outbox.counts(store) == {"pending": 0, "sent": 1, "dead": 0}
    finally:
        await store.close()
        sink.stop()


async def test_without_smtp_url_mail_is_written_as_eml_files(tmp_path: Path, store_url: str) -> None:
    store = Store(store_url)
    await store.migrate()
    try:
        await _queue(store, 2)
        worker = outbox.Worker(store, MailSettings(), outbox.transport_for(MailSettings(), tmp_path))
        assert await worker.send_due() == 2
    finally:
        await store.close()
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "outbox").glob("*.part"))
    message = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert message["To"].addresses[0].addr_spec == "ann@example.com"
