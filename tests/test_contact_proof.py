"""Who a visitor joins by proving an address (chatserver/contact_proof.py): the rule as plain
data, the join in the store, and the whole flow over a real socket with real SMTP. Each test
here would catch a wrong merge: a typed address, a wrong code, another site."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from mail_fixtures import MailServer, Sink, code_in, prove
from sqlalchemy import insert, select, update

from chatserver import contact_proof, customers, sites
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import contacts, conversations, email_proofs, tickets
from conftest import Client, login, visitor

EMAIL = "kim@example.com"


def _holder(contact_id: str, created_at: int = 1, external_id: str | None = None,
            email: str | None = None, proven: bool = False, mailed: bool = False,
            proofs: int | None = None) -> contact_proof.Holder:
    return contact_proof.Holder(contact_id, created_at, external_id, email, proven, mailed,
                                int(proven) if proofs is None else proofs)


def test_only_a_signed_identity_a_proof_or_mail_from_the_address_owns_it() -> None:
    me = _holder("me", proven=True)
    # Typed into a form or an unsigned identity: a claim, no ownership.
    assert contact_proof.owner([me, _holder("typed", email=EMAIL)], EMAIL, "me") is None
    assert contact_proof.owner([me, _holder("signed", external_id="u1", email="KIM@example.com")],
                               EMAIL, "me") == "signed"
    assert contact_proof.owner([me, _holder("proved", proven=True)], EMAIL, "me") == "proved"
    assert contact_proof.owner([me, _holder("mail", email=EMAIL, mailed=True)], EMAIL, "me") == "mail"
    # A mail contact a widget visitor already joined is held by a token whose holder could
    # retype its email: only its proofs count from then on.
    joined = _holder("mail", email=EMAIL, mailed=True, proofs=1)
    assert contact_proof.owner([me, joined], EMAIL, "me") is None
    # The visitor who proved is never their own owner.
    assert contact_proof.owner([me], EMAIL, "me") is None


def test_the_strongest_claim_wins_then_the_oldest_contact() -> None:
    holders = [_holder("me", proven=True), _holder("mail", 1, email=EMAIL, mailed=True),
               _holder("late", 9, proven=True), _holder("early", 5, proven=True)]
    assert contact_proof.owner(holders, EMAIL, "me") == "early"
    signed = _holder("signed", 20, external_id="u1", email=EMAIL)
    assert contact_proof.owner([*holders, signed], EMAIL, "me") == "signed"


async def _contact(store: Store, site_id: str, **values: Any) -> str:
    contact_id = await customers.create(store, site_id)
    if values:
        async with store.write() as conn:
            await conn.execute(update(contacts).where(contacts.c.id == contact_id).values(**values))
    return contact_id


async def _proof(store: Store, contact_id: str, email: str, proven: bool = True) -> None:
    async with store.write() as conn:
        await conn.execute(insert(email_proofs).values(
            contact_id=contact_id, email=email, code_hash="0" * 64, expires_at=now_ms() + 60_000,
            tries_left=5, proven_at=now_ms() if proven else None, created_at=now_ms()))


async def _chat(store: Store, site_id: str, contact_id: str) -> str:
    chat = new_id()
    async with store.write() as conn:
        await conn.execute(insert(conversations).values(
            id=chat, site_id=site_id, contact_id=contact_id, status="queued", client_id=chat,
            last_seq=0, visitor_delivered_seq=0, visitor_read_seq=0, agent_delivered_seq=0,
            agent_read_seq=0, created_at=now_ms(), updated_at=now_ms()))
    return chat


async def _owners_of(store: Store, *chats: str) -> list[str]:
    async with store.read() as conn:
        rows = await conn.execute(select(conversations.c.id, conversations.c.contact_id)
                                  .where(conversations.c.id.in_(chats)))
        found = {r.id: r.contact_id for r in rows}
    return [found[c] for c in chats]


async def test_a_proof_joins_the_owner_and_nothing_else(store_url: str) -> None:
    store = Store(store_url)
    await store.migrate()
    try:
        shop, other = await sites.create(store, "Shop", []), await sites.create(store, "Other", [])
        owner = await _contact(store, shop.id)
        await _proof(store, owner, EMAIL)
        typed = await _contact(store, shop.id, email=EMAIL)  # an address typed, never proved
        pending = await _contact(store, shop.id)
        await _proof(store, pending, EMAIL, proven=False)  # a code asked for, never typed back
        elsewhere = await _contact(store, other.id)
        await _proof(store, elsewhere, EMAIL)
        me = await _contact(store, shop.id)
        await _proof(store, me, EMAIL)
        chats = [await _chat(store, shop.id, c) for c in (owner, typed, pending, me)]
        other_chat = await _chat(store, other.id, elsewhere)

        assert await contact_proof.join(store, shop.id, me, EMAIL) == owner
        assert await _owners_of(store, *chats, other_chat) == [owner, typed, pending, owner, elsewhere]
        assert not await customers.belongs(store, me, shop.id)
        # Another site's visitor proving the same address joins nobody of this site.
        visitor_elsewhere = await _contact(store, other.id)
        await _proof(store, visitor_elsewhere, EMAIL)
        assert await contact_proof.join(store, other.id, visitor_elsewhere, EMAIL) == elsewhere
        assert await customers.belongs(store, owner, shop.id)
    finally:
        await store.close()


async def test_a_signed_in_visitor_or_an_address_nobody_owns_joins_nobody(store_url: str) -> None:
    store = Store(store_url)
    await store.migrate()
    try:
        shop = await sites.create(store, "Shop", [])
        first = await _contact(store, shop.id)
        await _proof(store, first, EMAIL)
        assert await contact_proof.join(store, shop.id, first, EMAIL) is None  # the first to prove
        signed = await _contact(store, shop.id, external_id="u7", email="u7@example.com")
        await _proof(store, signed, EMAIL)
        assert await contact_proof.join(store, shop.id, signed, EMAIL) is None
        assert await customers.belongs(store, signed, shop.id)
        # Mail from the address makes its contact the owner, until a visitor joined it.
        mail = await _contact(store, shop.id, email="mail@example.com")
        async with store.write() as conn:
            await conn.execute(insert(tickets).values(
                id=new_id(), site_id=shop.id, contact_id=mail, subject="Hi", status="open",
                priority="normal", source="email", channel="email", thread_id=new_id(),
                created_at=now_ms(), updated_at=now_ms()))
        me = await _contact(store, shop.id)
        await _proof(store, me, "mail@example.com")
        assert await contact_proof.join(store, shop.id, me, "mail@example.com") == mail
        async with store.read() as conn:
            kept = (await conn.execute(select(email_proofs.c.proven_at).where(
                email_proofs.c.contact_id == mail))).scalars().all()
        assert len(kept) == 1 and kept[0] is not None  # the proof came along
        # Its holder now types another address: mail contacts keep the address mail came from.
        await customers.describe(store, mail, email="victim@example.com", name="Kim")
        async with store.read() as conn:
            row = (await conn.execute(select(contacts).where(contacts.c.id == mail))).one()
        assert (row.email, row.name) == ("mail@example.com", "Kim")
    finally:
        await store.close()


async def _history(server: MailServer, contact_id: str) -> list[str]:
    cookie = await login(server, "ann@example.com")
    async with httpx.AsyncClient(base_url=server.http, cookies={"chatserver_session": cookie}) as http:
        found = await http.get(f"/api/v1/contacts/{contact_id}/history")
    found.raise_for_status()
    return sorted(h["summary"] for h in found.json()["history"])


async def _start(guest: Client, ref: str, text: str) -> str:
    await guest.send(type="start", client_id=ref, text=text)
    return str((await guest.expect("ack", ref=ref))["conversation"])


async def _code(sink: Sink, count: int) -> str:
    """Return the code in the count-th code mailed to EMAIL (a ticket's mail is no code)."""
    for _ in range(300):
        codes = [r for r in sink.received
                 if EMAIL in r.rcpt_tos and str(r.message["Subject"]).startswith("Your code")]
        if len(codes) >= count:
            return code_in(codes[count - 1])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no code mail number {count} to {EMAIL}")


def _you(guest: Client) -> str:
    return str(next(f for f in guest.seen if f["type"] == "welcome")["you"]["id"])


async def test_over_the_socket_a_claim_or_a_wrong_code_sees_nothing_and_a_proof_joins(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    shop, other = await mail_server.add_site("Shop"), await mail_server.add_site("Other")
    # Kim's address gets more mails than one person would want in an hour (rules.DEFAULTS).
    await mail_server.set_site(shop, limits={"mail": {"recipient": [10, 3600], "network": [50, 3600]}})
    await mail_server.add_agent("ann@example.com", shop)
    kim = await visitor(mail_server, shop)
    clients.append(kim)
    await prove(kim, sink, EMAIL)
    kims_chat = await _start(kim, "k", "zxqv where is parcel 4411")
    kim_id = _you(kim)

    # Someone else types Kim's address: as a profile, and into the offline form.
    async with httpx.AsyncClient() as http:
        issued = await http.post(f"{mail_server.http}/api/v1/sites/{shop.public_key}/visitors",
                                 json={"profile": {"email": EMAIL}}, headers={"Origin": mail_server.http})
    stranger = await visitor(mail_server, shop, issued.json()["token"])
    clients.append(stranger)
    assert next(f for f in stranger.seen if f["type"] == "welcome")["conversations"] == []
    await stranger.send(type="leave_email", email=EMAIL, text="zxqv what did Kim buy", client_id="f")
    await stranger.expect("ticket")
    await stranger.send(type="sync", conversation=kims_chat, after=0)
    assert (await stranger.expect("error", ref=kims_chat))["code"] == "not_found"
    # A code goes to Kim's mailbox; a guess joins nothing.
    await stranger.send(type="verify_email", email=EMAIL)
    await stranger.expect("email_proof", email=EMAIL, proven=False)
    code = await _code(sink, 2)
    guess = "000000" if code != "000000" else "111111"
    await stranger.send(type="confirm_email", email=EMAIL, code=guess, client_id="g")
    assert (await stranger.expect("error", ref="g"))["code"] == "wrong_code"
    again = await visitor(mail_server, shop, stranger.token)
    clients.append(again)
    assert next(f for f in again.seen if f["type"] == "welcome")["you"]["id"] == _you(stranger)
    assert await _history(mail_server, kim_id) == ["zxqv where is parcel 4411"]

    # Kim on another site proves the same address: that site's contacts are not Kim's.
    elsewhere = await visitor(mail_server, other)
    clients.append(elsewhere)
    await prove(elsewhere, sink, EMAIL)
    assert "token" not in elsewhere.seen[-1]

    # Kim on a second device, reading the mailed code: joins Kim, and sees Kim's chats.
    phone = await visitor(mail_server, shop)
    clients.append(phone)
    phones_chat = await _start(phone, "p", "zxqv and my other parcel")
    await phone.send(type="verify_email", email=EMAIL)
    await phone.expect("email_proof", email=EMAIL, proven=False)
    tab = await visitor(mail_server, shop, phone.token)  # the phone's second tab
    clients.append(tab)
    await phone.send(type="confirm_email", email=EMAIL, code=await _code(sink, 4))
    joined = await phone.expect("email_proof", email=EMAIL, proven=True)
    assert (await tab.expect("email_proof"))["token"] == joined["token"]  # it reconnects too
    rejoined = await visitor(mail_server, shop, joined["token"])
    clients.append(rejoined)
    welcome = next(f for f in rejoined.seen if f["type"] == "welcome")
    assert welcome["you"]["id"] == kim_id
    assert {c["id"] for c in welcome["conversations"]} == {kims_chat, phones_chat}
    assert await _history(mail_server, kim_id) == ["zxqv and my other parcel", "zxqv where is parcel 4411"]
    # The stranger's claim and the ticket it made stayed the stranger's.
    assert await _history(mail_server, _you(stranger)) == ["zxqv what did Kim buy"]
    assert "event=contact_joined_by_proof" in mail_server.log.read_text()


async def test_asking_again_for_a_proven_address_joins_an_owner_that_came_later(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    shop = await mail_server.add_site("Shop")
    guest = await visitor(mail_server, shop)
    clients.append(guest)
    await prove(guest, sink, EMAIL)
    assert "token" not in guest.seen[-1]  # nobody owned it yet
    # Then the site signs Kim in on another device (what customers.identified leaves).
    signed = await visitor(mail_server, shop)
    clients.append(signed)
    await mail_server.set_contact(_you(signed), external_id="kim-1", email=EMAIL)
    await guest.send(type="verify_email", email=EMAIL)
    again = await guest.expect("email_proof", email=EMAIL, proven=True)
    assert "token" in again and len(sink.received) == 1  # joined, and no second mail
    rejoined = await visitor(mail_server, shop, again["token"])
    clients.append(rejoined)
    assert _you(rejoined) == _you(signed)
