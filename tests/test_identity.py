"""Signed-in users: one contact across devices, only when the site signed who they are."""

from __future__ import annotations

import time

import httpx
import pytest

from chatserver import identity, site_settings
from chatserver.identity import Claim, IdentityError
from chatserver.sites import Site
from chatserver.store import Store
from conftest import Server, visitor


def test_a_hash_verifies_only_unchanged_and_unexpired() -> None:
    expires = int(time.time()) + 3600
    signed = identity.sign("s3cret", "u1", "ann@example.com", expires)
    good = Claim("u1", "Ann", "ann@example.com", expires, signed)
    identity.verify("s3cret", good)
    tampered = [
        Claim("u2", good.name, good.email, expires, good.hash),
        Claim("u1", good.name, "eve@example.com", expires, good.hash),
        Claim("u1", good.name, good.email, expires + 1, good.hash),
    ]
    for claim in tampered:
        with pytest.raises(IdentityError, match="does not match"):
            identity.verify("s3cret", claim)
    with pytest.raises(IdentityError, match="does not match"):
        identity.verify("other", good)
    with pytest.raises(IdentityError, match="expired"):
        identity.verify("s3cret", good, now=expires + 1)
    far = expires + 30 * 24 * 3600
    with pytest.raises(IdentityError, match="too far ahead"):
        identity.verify("s3cret", Claim("u1", None, None, far, identity.sign("s3cret", "u1", None, far)))
    with pytest.raises(IdentityError, match="one line"):
        identity.parse({"id": "u1", "hash": "0" * 64, "expires": 1, "name": "Ann\r\nBcc: x"})


async def _visitor(server: Server, site: Site, body: dict[str, object]) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{server.http}/api/v1/sites/{site.public_key}/visitors",
                               json=body, headers={"Origin": server.http})


async def _secret(server: Server, site: Site, enforced: bool) -> str:
    store = Store(server.store_url)
    try:
        secret = await site_settings.set_identity(store, site.id, enforced=enforced, new_secret=True)
    finally:
        await store.close()
    assert secret is not None
    return secret


def _signed(secret: str, user_id: str, email: str) -> dict[str, object]:
    expires = int(time.time()) + 600
    return {"id": user_id, "name": "Ann", "email": email, "expires": expires,
            "hash": identity.sign(secret, user_id, email, expires)}


@pytest.mark.shared_server
async def test_a_verified_user_finds_their_chat_on_another_device(server: Server) -> None:
    site = await server.add_site()
    secret = await _secret(server, site, enforced=True)
    phone = await _visitor(server, site, {"identity": _signed(secret, "u-42", "ann@example.com"),
                                          "page": {"url": "https://shop.example/cart", "title": "Cart"}})
    assert phone.status_code == 200 and phone.json()["visitor"]["verified"] is True
    chat = await visitor(server, site, token=phone.json()["token"])
    await chat.send(type="start", client_id="q1", text="hello, is my order packed?")
    conversation = (await chat.expect("ack"))["conversation"]
    # Others see the name the site vouched for on the visitor's messages.
    await chat.send(type="sync", conversation=conversation, after=0)
    assert (await chat.expect("message", conversation=conversation))["author"]["name"] == "Ann"
    await chat.close()

    laptop = await _visitor(server, site, {"identity": _signed(secret, "u-42", "ann@example.com")})
    assert laptop.json()["visitor"]["id"] == phone.json()["visitor"]["id"]
    again = await visitor(server, site, token=laptop.json()["token"])
    welcome = next(f for f in again.seen if f["type"] == "welcome")
    assert [c["id"] for c in welcome["conversations"]] == [conversation]
    await again.close()


@pytest.mark.shared_server
async def test_unsigned_or_forged_identities_never_merge(server: Server) -> None:
    site = await server.add_site()
    secret = await _secret(server, site, enforced=True)
    owner = await _visitor(server, site, {"identity": _signed(secret, "u-1", "ann@example.com")})
    forged = {**_signed("guessed", "u-1", "ann@example.com")}
    refused = await _visitor(server, site, {"identity": forged})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert "does not match" in refused.json()["message"]
    # With enforcement off, a forged claim only describes a fresh anonymous visitor.
    await _secret(server, site, enforced=False)
    loose = await _visitor(server, site, {"identity": forged})
    assert loose.status_code == 200 and loose.json()["visitor"]["verified"] is False
    assert loose.json()["visitor"]["id"] != owner.json()["visitor"]["id"]
    bad = await _visitor(server, site, {"profile": {"email": "not an email"}})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_message"
    header_trick = await _visitor(server, site, {"profile": {"name": "Eve\r\nBcc: x@evil.example"}})
    assert header_trick.status_code == 400
