"""A chat's transcript mailed to its visitor: the real server, its outbox and a real SMTP sink."""

from __future__ import annotations

from mail_fixtures import MAIL_DOMAIN, MailServer, Sink, prove

from chatserver.chat import transcripts
from conftest import Chat, Client, agent, visitor


def test_transcript_message_ids_cap_the_mails_per_chat_and_hide_the_chat() -> None:
    ids = {transcripts.message_id("c1", slot, "help.example") for slot in (1, 2, 3)}
    assert len(ids) == 3
    assert all(mid.startswith("<transcript.") and "c1" not in mid for mid in ids)
    assert transcripts.message_id("c1", 1, "help.example") != transcripts.message_id(
        "c2", 1, "help.example"
    )


async def _closed_chat(server: MailServer, clients: list[Client]) -> tuple[Client, str]:
    """A visitor's chat answered by an agent and closed; return the visitor and the chat id."""
    site = await server.add_site("Acme")
    await server.set_site(site, locale="en")
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    clients.extend([ann, guest])
    await guest.send(type="start", client_id="q1", text="Mijn bestelling 4411 <b>klopt</b> niet")
    chat = (await guest.expect("ack", ref="q1"))["conversation"]
    # Past the help articles the server may suggest (a chat already queued refuses: harmless).
    await guest.send(type="escalate", conversation=chat)
    await guest.expect("conversation", conversation=Chat(chat, "assigned"), timeout=10)
    await ann.send(type="message", conversation=chat, client_id="a1", text="Ik kijk even mee.")
    await ann.expect("ack", ref="a1")
    await ann.send(type="close", conversation=chat)
    await guest.expect("conversation", conversation=Chat(chat, "closed"))
    return guest, chat


async def test_the_visitor_gets_the_transcript_in_their_language_once(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    guest, chat = await _closed_chat(mail_server, clients)
    await guest.send(type="transcript", conversation=chat, email="Kim@Example.com", locale="nl")
    sent = await guest.expect("transcript", conversation=chat)
    assert sent == {"type": "transcript", "conversation": chat, "email": "kim@example.com",
                    "duplicate": False}

    mail = await sink.to("kim@example.com")
    message = mail.message
    assert str(message["Subject"]).startswith("[Acme] Je chat van ")
    assert "Hier is je chat met Acme" in mail.text
    assert "Mijn bestelling 4411 <b>klopt</b> niet" in mail.text
    assert "ann: Ik kijk even mee." in mail.text
    # The HTML part escapes what the visitor typed.
    assert "&lt;b&gt;klopt&lt;/b&gt;" in mail.html and "<b>klopt" not in mail.html
    assert message["Reply-To"] is None and message["X-Chatserver-Ticket"] is None
    assert str(message["Auto-Submitted"]) == "auto-generated"
    assert str(message["Message-ID"]).endswith(f"@{MAIL_DOMAIN}>")

    # Asking again for the same address sends nothing new.
    await guest.send(type="transcript", conversation=chat, email="kim@example.com")
    assert (await guest.expect("transcript", conversation=chat))["duplicate"] is True


async def test_transcripts_refuse_header_tricks_strangers_and_a_fourth_address(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    guest, chat = await _closed_chat(mail_server, clients)
    await guest.send(type="transcript", conversation=chat, email="kim@example.com\r\nBcc: x@evil.example")
    refused = await guest.expect("error")
    assert refused["code"] == "invalid_message" and "line breaks" in refused["message"]
    await guest.send(type="transcript", conversation=chat, email="Kim <kim@example.com>")
    assert (await guest.expect("error"))["code"] == "invalid_message"

    stranger = await visitor(mail_server, (await mail_server.add_site("Other")))
    clients.append(stranger)
    await stranger.send(type="transcript", conversation=chat, email="kim@example.com")
    assert (await stranger.expect("error"))["code"] == "not_found"

    # One address nobody proved; any further one must be proven first (issue 15).
    await guest.send(type="transcript", conversation=chat, email="k1@example.com")
    assert (await guest.expect("transcript"))["email"] == "k1@example.com"
    await guest.send(type="transcript", conversation=chat, email="k2@example.com")
    unproven = await guest.expect("error", ref=chat)
    assert unproven["code"] == "unproven_address" and "confirm this address" in unproven["message"]
    for n in (2, 3):
        await prove(guest, sink, f"k{n}@example.com")
        await guest.send(type="transcript", conversation=chat, email=f"k{n}@example.com")
        assert (await guest.expect("transcript"))["email"] == f"k{n}@example.com"
    await guest.send(type="transcript", conversation=chat, email="k4@example.com")
    assert (await guest.expect("error", ref=chat))["code"] == "unproven_address"
    await sink.wait(5)  # three transcripts and two codes
    transcripts_sent = [r.rcpt_tos[0] for r in sink.received if "code" not in str(r.message["Subject"])]
    assert sorted(transcripts_sent) == ["k1@example.com", "k2@example.com", "k3@example.com"]
