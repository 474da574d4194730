"""Signed-in users: one contact across devices, only when the site signed who they are."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

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


# The v2 signature: one message per identity ----------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "widget.md"


def _recipe(language: str, function: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S)
    found = [block for block in blocks if f"function {function}(" in block or f"def {function}(" in block]
    assert found, f"docs/widget.md has no {language} recipe defining {function}"
    return str(found[0])


def test_one_signature_verifies_one_identity_only() -> None:
    expires = int(time.time()) + 600
    # Under the old `id:email:expires` these two identities signed the same message.
    signed = identity.sign("s3cret", "a:b", "c@x.example", expires)
    assert identity.verify("s3cret", Claim("a:b", None, "c@x.example", expires, signed)) == "v2"
    with pytest.raises(IdentityError, match="does not match"):
        identity.verify("s3cret", Claim("a", None, "b:c@x.example", expires, signed))
    # An old-format hash is no way around it: it is accepted only where it cannot be read
    # two ways (no ':' in the id or email), and only until the stated date.
    old = identity.legacy_sign("s3cret", "a:b", "c@x.example", expires)
    for claim in (Claim("a:b", None, "c@x.example", expires, old),
                  Claim("a", None, "b:c@x.example", expires, old)):
        with pytest.raises(IdentityError, match="does not match"):
            identity.verify("s3cret", claim)
    old_plain = identity.legacy_sign("s3cret", "u1", "ann@example.com", expires)
    plain = Claim("u1", None, "ann@example.com", expires, old_plain)
    assert identity.verify("s3cret", plain) == "v1"
    late = identity.LEGACY_ACCEPTED_UNTIL + 60
    late_claim = Claim("u1", None, "ann@example.com", late + 600,
                       identity.legacy_sign("s3cret", "u1", "ann@example.com", late + 600))
    with pytest.raises(IdentityError, match="old format"):
        identity.verify("s3cret", late_claim, now=late)
    assert f"Until **{identity.LEGACY_ACCEPTED_UNTIL_DAY}**" in DOCS.read_text()
    # A newline would end a field early; ids and emails never carry one.
    with pytest.raises(IdentityError, match="one line"):
        identity.parse({"id": "u1\nu2", "hash": "0" * 64, "expires": 1})


def test_the_python_recipe_in_the_docs_signs_what_the_server_verifies() -> None:
    scope: dict[str, Any] = {}
    exec(compile(_recipe("python", "chatserver_identity"), "widget.md", "exec"), scope)
    made = scope["chatserver_identity"]("s3cret", "user:42", "Ada", "ada@example.com")
    assert identity.verify("s3cret", identity.parse(made)) == "v2"
    no_email = scope["chatserver_identity"]("s3cret", "user-43", "Bo", "")
    assert identity.verify("s3cret", identity.parse(no_email)) == "v2"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_node_recipe_in_the_docs_signs_what_the_server_verifies() -> None:
    script = _recipe("js", "chatserverIdentity") + (
        "\nconsole.log(JSON.stringify(chatserverIdentity('s3cret', 'user:42', 'Ada', 'adá@example.com')));"
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=30)
    made = json.loads(out.stdout)
    assert identity.verify("s3cret", identity.parse(made)) == "v2"


async def test_an_old_format_hash_still_works_for_now_and_is_logged(server: Server) -> None:
    site = await server.add_site()
    secret = await _secret(server, site, enforced=True)
    expires = int(time.time()) + 600
    old = {"id": "u-7", "email": "ann@example.com", "expires": expires,
           "hash": identity.legacy_sign(secret, "u-7", "ann@example.com", expires)}
    answer = await _visitor(server, site, {"identity": old})
    assert answer.status_code == 200 and answer.json()["visitor"]["verified"] is True
    assert f"event=identity_legacy_hash site={site.id}" in server.log.read_text()
    new = await _visitor(server, site, {"identity": _signed(secret, "u-7", "ann@example.com")})
    assert new.json()["visitor"]["id"] == answer.json()["visitor"]["id"]
