"""Signing in over the JSON API and the console: cross-site forms, throttles, revocation.

The server trusts X-Forwarded-For from loopback (uvicorn's default, for a proxy on the same
machine), so one test client can stand for visitors from several addresses.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from test_console import csrf_of, sign_in

from chatserver import lockout
from conftest import PASSWORD, Chat, Server, agent, visitor

ATTACKER = {"X-Forwarded-For": "203.0.113.66"}


# The rules, without a server ---------------------------------------------------------------


def test_a_pair_backs_off_exponentially_after_a_few_free_tries() -> None:
    free = lockout.PAIR.free
    assert [lockout.lock_ms(lockout.PAIR, n) for n in range(1, free)] == [0] * (free - 1)
    delays = [lockout.lock_ms(lockout.PAIR, n) for n in range(free, free + 12)]
    assert delays[0] == lockout.PAIR.base_ms
    assert all(b == min(2 * a, lockout.PAIR.max_ms) for a, b in zip(delays, delays[1:], strict=False))
    assert delays[-1] == lockout.PAIR.max_ms
    # Counted past any sane number, the delay stays at its ceiling (no overflow, no error).
    assert lockout.lock_ms(lockout.PAIR, 10_000) == lockout.PAIR.max_ms


def test_addresses_of_one_network_count_as_one() -> None:
    assert lockout.network("192.0.2.7") == "192.0.2.7"
    # An IPv6 host usually gets a whole /64: counting each address apart would be no limit.
    assert lockout.network("2001:db8:1:2::1") == lockout.network("2001:db8:1:2:ffff::9")
    assert lockout.network("2001:db8:1:2::1") != lockout.network("2001:db8:1:3::1")
    assert lockout.network("::ffff:192.0.2.7") == "192.0.2.7"
    assert lockout.network("not an address") == "not an address"


# Login CSRF ---------------------------------------------------------------------------------


async def test_a_cross_site_form_cannot_sign_a_browser_in(server: Server) -> None:
    await server.add_agent("eve@example.com")
    body = f'{{"email": "eve@example.com", "password": "{PASSWORD}", "x": "="}}'
    async with httpx.AsyncClient(base_url=server.http) as http:
        # <form enctype="text/plain"> posts a JSON-looking body without a preflight.
        as_text = await http.post(
            "/api/v1/login", content=body,
            headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        )
        assert as_text.status_code == 415 and as_text.json()["code"] == "invalid_json"
        assert "chatserver_session" not in as_text.cookies
        # A form without an Origin (old browsers, privacy tools) is refused by its type alone.
        no_origin = await http.post("/api/v1/login", content=body, headers={"Content-Type": "text/plain"})
        assert no_origin.status_code == 415
        # JSON from another origin (only possible through a preflight we do not grant).
        for origin in ("https://evil.example", "null", f"https://127.0.0.1:{server.port}"):
            foreign = await http.post(
                "/api/v1/login", json={"email": "eve@example.com", "password": PASSWORD},
                headers={"Origin": origin},
            )
            assert foreign.status_code == 403 and foreign.json() == {
                "type": "error", "code": "forbidden", "message": foreign.json()["message"],
            }
            assert "chatserver_session" not in foreign.cookies
        # The server's own pages and non-browser clients (no Origin) sign in.
        own = await http.post(
            "/api/v1/login", json={"email": "eve@example.com", "password": PASSWORD},
            headers={"Origin": server.http},
        )
        assert own.status_code == 200 and "chatserver_session" in own.cookies
        # Signing someone out from another site is refused as well.
        out = await http.post("/api/v1/logout", headers={"Origin": "https://evil.example"})
        assert out.status_code == 403


# Throttles that an attacker cannot turn against the people they target ----------------------


async def test_a_guesser_slows_only_themselves(server: Server) -> None:
    await server.add_agent("admin@example.com", role="admin")
    async with httpx.AsyncClient(base_url=server.http, headers=ATTACKER) as attacker:
        codes = [
            (await attacker.post("/api/v1/login", json={"email": "admin@example.com", "password": "x" * 12}))
            for _ in range(lockout.PAIR.free + 1)
        ]
    assert [c.status_code for c in codes] == [401] * (lockout.PAIR.free - 1) + [429, 429]
    assert codes[-1].json()["code"] == "too_many_attempts"
    assert int(codes[-1].headers["retry-after"]) >= 1
    # Locked means locked for the guesser: the right password is refused too.
    async with httpx.AsyncClient(base_url=server.http, headers=ATTACKER) as attacker:
        right = await attacker.post(
            "/api/v1/login", json={"email": "admin@example.com", "password": PASSWORD}
        )
        assert right.status_code == 429
        assert (await sign_in(attacker, "admin@example.com")).status_code == 429
    # The admin, from their own address, signs in at once, in the console and over the API.
    async with httpx.AsyncClient(base_url=server.http) as admin:
        assert (await sign_in(admin, "admin@example.com")).status_code == 303
        api = await admin.post("/api/v1/login", json={"email": "admin@example.com", "password": PASSWORD})
        assert api.status_code == 200

    # The lock is in the store, so a restarted (or another) process keeps it.
    server.stop()
    server.start()
    async with httpx.AsyncClient(base_url=server.http, headers=ATTACKER) as attacker:
        assert (await sign_in(attacker, "admin@example.com")).status_code == 429


async def test_known_and_unknown_addresses_get_the_same_answers(server: Server) -> None:
    await server.add_agent("ann@example.com")
    answers: dict[str, list[tuple[int, str]]] = {}
    for email in ("ann@example.com", "nobody@example.com"):
        answers[email] = []
        async with httpx.AsyncClient(base_url=server.http, headers=ATTACKER) as http:
            for _ in range(lockout.PAIR.free + 1):
                response = await sign_in(http, email, "wrong password!")
                message = re.search(r'id="signin-error">([^<]+)<', response.text)
                assert message
                answers[email].append((response.status_code, message.group(1)))
    assert answers["ann@example.com"] == answers["nobody@example.com"]
    assert answers["ann@example.com"][0] == (401, "Wrong email or password.")
    assert answers["ann@example.com"][-1][0] == 429


async def test_one_address_guessing_many_accounts_is_throttled(server: Server) -> None:
    await server.add_agent("ann@example.com")
    spray = {"X-Forwarded-For": "198.51.100.9"}
    async with httpx.AsyncClient(base_url=server.http, headers=spray) as http:
        # One try per address stays under every pair's limit; the address's own limit fires.
        codes = [
            (await http.post("/api/v1/login", json={"email": f"user{n}@example.com", "password": "x" * 12}))
            .status_code
            for n in range(lockout.NETWORK.free)
        ]
        assert codes == [401] * (lockout.NETWORK.free - 1) + [429]
        right = await http.post("/api/v1/login", json={"email": "ann@example.com", "password": PASSWORD})
        assert right.status_code == 429
    # Another address is not affected.
    async with httpx.AsyncClient(base_url=server.http) as http:
        ok = await http.post("/api/v1/login", json={"email": "ann@example.com", "password": PASSWORD})
        assert ok.status_code == 200


# A new password ends everything the agent held ---------------------------------------------


@pytest.fixture
async def admin_browser(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    await server.add_agent("admin@example.com", role="admin")
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        assert (await sign_in(http, "admin@example.com")).status_code == 303
        yield http


async def test_a_new_password_hands_the_agents_chats_to_a_colleague(
    server: Server, admin_browser: httpx.AsyncClient
) -> None:
    site = await server.add_site("Acme")
    bob = await server.add_agent("bob@example.com", site)
    await server.add_agent("cat@example.com", site)
    bob_socket = await agent(server, "bob@example.com")
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="q1", text="hello, anyone?")
    conversation = (await guest.expect("ack"))["conversation"]
    await guest.expect("conversation", conversation=Chat(conversation, "assigned", {"name": "bob"}))
    cat = await agent(server, "cat@example.com")
    page = await admin_browser.get("/console/admin/agents")
    done = await admin_browser.post(
        f"/console/admin/agents/{bob.id}", data={"csrf": csrf_of(page.text), "action": "password"}
    )
    assert done.status_code == 200
    # Bob is signed out; his chat does not wait for him to sign in again.
    await cat.expect("conversation", conversation=Chat(conversation, "assigned", {"id": cat.me}))
    await guest.expect("conversation", conversation=Chat(conversation, "assigned", {"name": "cat"}))
    for client in (bob_socket, cat, guest):
        await client.close()
