"""The console over HTTP against the real server: sign-in, CSRF, CSP, admin, revocation.

Throttled sign-ins, in the console and over the API: tests/test_login.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from chatserver.console import customer
from chatserver.store import Store
from chatserver.store.schema import conversations
from conftest import PASSWORD, Chat, Server, agent, visitor

CONSOLE = Path(__file__).resolve().parent.parent / "chatserver" / "console"


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/console/signin")
    return await http.post(
        "/console/signin",
        data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": "/console"},
    )


@pytest.fixture
async def browser_like(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that keeps cookies like a browser and does not follow redirects."""
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        yield http


async def test_sign_in_sets_a_fresh_httponly_lax_session_and_sign_out_ends_it(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    await server.add_agent("ann@example.com")
    assert (await browser_like.get("/console")).headers["location"] == "/console/signin?next=/console"

    first = await sign_in(browser_like, "ann@example.com")
    assert first.status_code == 303 and first.headers["location"] == "/console"
    cookie = next(c for c in first.headers.get_list("set-cookie") if c.startswith("chatserver_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS adds Secure
    old_session = browser_like.cookies["chatserver_session"]
    inbox = await browser_like.get("/console")
    assert inbox.status_code == 200 and 'id="inbox"' in inbox.text

    # Signing in issues a new session id and ends any the browser carried (fixation).
    browser_like.cookies.delete("chatserver_session")
    page = await browser_like.get("/console/signin")
    browser_like.cookies.set("chatserver_session", old_session, domain="127.0.0.1", path="/")
    again = await browser_like.post("/console/signin", data={
        "csrf": csrf_of(page.text), "email": "ann@example.com", "password": PASSWORD,
    })
    assert again.status_code == 303
    assert browser_like.cookies["chatserver_session"] != old_session
    async with httpx.AsyncClient(base_url=server.http, cookies={"chatserver_session": old_session}) as stale:
        assert (await stale.get("/console")).status_code == 303

    page = await browser_like.get("/console")
    out = await browser_like.post("/console/signout", data={"csrf": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/console/signin"
    assert (await browser_like.get("/console")).status_code == 303


async def test_a_form_post_without_the_token_or_from_another_site_is_refused(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    await server.add_agent("admin@example.com", role="admin")
    # Cross-site sign-in form: no token, no cookie.
    async with httpx.AsyncClient(base_url=server.http) as attacker:
        refused = await attacker.post(
            "/console/signin", data={"email": "admin@example.com", "password": PASSWORD}
        )
    assert refused.status_code == 403 and "came from another site" in refused.text
    assert "chatserver_session" not in refused.cookies

    await sign_in(browser_like, "admin@example.com")
    page = await browser_like.get("/console/admin/agents")
    new_agent = {"email": "eve@example.com", "name": "Eve", "role": "admin", "max_chats": "5"}
    # The browser's cookies ride along, but a cross-site form has no token ...
    without = await browser_like.post("/console/admin/agents", data=new_agent)
    assert without.status_code == 403
    # ... nor can it reuse the token of the signed-out page that came before sign-in,
    stale = await browser_like.post("/console/admin/agents", data={**new_agent, "csrf": "0" * 64})
    assert stale.status_code == 403
    # ... and a form posted from another origin is refused even with a token.
    foreign = await browser_like.post(
        "/console/admin/agents", data={**new_agent, "csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    listing = await browser_like.get("/console/admin/agents")
    assert "eve@example.com" not in listing.text

    added = await browser_like.post(
        "/console/admin/agents", data={**new_agent, "csrf": csrf_of(listing.text)}
    )
    assert added.status_code == 200 and "eve@example.com" in added.text


async def test_console_pages_forbid_framing_and_inline_script(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    await server.add_agent("admin@example.com", role="admin")
    responses = [await browser_like.get("/console/signin")]
    await sign_in(browser_like, "admin@example.com")
    demo = (await browser_like.get("/console/admin/sites")).text
    site_path = re.search(r'href="(/console/admin/sites/[^"]+)"', demo)
    assert site_path
    for path in ("/console", "/console/admin/sites", "/console/admin/agents", "/console/admin/canned",
                 "/console/admin/held", site_path.group(1)):
        responses.append(await browser_like.get(path))
    for response in responses:
        path = response.url.path
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, path
        assert "unsafe-inline" not in csp and response.headers["x-frame-options"] == "DENY"
        # Every script is a file; the only other <script> carries JSON data, which never runs.
        for tag in re.findall(r"<script[^>]*>", response.text):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", response.text), path


async def test_only_admins_reach_admin_pages(server: Server, browser_like: httpx.AsyncClient) -> None:
    await server.add_agent("ann@example.com")
    await sign_in(browser_like, "ann@example.com")
    for path in ("/console/admin/sites", "/console/admin/agents", "/console/admin/canned",
                 "/console/admin/held"):
        response = await browser_like.get(path)
        assert response.status_code == 403 and "Only admins" in response.text
    page = await browser_like.get("/console")
    refused = await browser_like.post(
        "/console/admin/agents",
        data={"csrf": csrf_of(page.text), "email": "x@example.com", "name": "X", "max_chats": "2"},
    )
    assert refused.status_code == 403


async def test_site_settings_are_checked_at_save_and_secrets_never_reach_visitors(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    await server.add_agent("admin@example.com", role="admin")
    site = await server.add_site("Acme", ["https://acme.example"])
    await sign_in(browser_like, "admin@example.com")
    path = f"/console/admin/sites/{site.id}"
    page = await browser_like.get(path)
    assert site.public_key in page.text and "data-copy=\"snippet\"" in page.text
    good = {
        "csrf": csrf_of(page.text), "name": "Acme Shop", "origins": "https://acme.example\nhttps://WWW.acme.example/",
        "color": "#0E9F6E", "greeting": "Hallo!", "locale": "nl", "position": "left",
        "prechat": "optional", "hours_enabled": "on", "timezone": "Europe/Amsterdam",
        "mon_open": "on", "mon_start": "09:00", "mon_end": "17:30",
        "sla_chat_first_response": "2", "sla_chat_resolution": "45",
        "sla_ticket_first_response": "8", "sla_ticket_resolution": "72",
    }
    for field, bad, says in [
        ("color", "red", "the colour must look like #2563eb"),
        ("origins", "https://acme.example/shop", "no path, query or user allowed"),
        ("timezone", "Mars/Olympus", "is not a time zone"),
        ("mon_end", "08:00", "start before end"),
        ("sla_chat_first_response", "0", "from 1 to 1440"),
        ("prechat", "maybe", "must be one of off, optional, required"),
    ]:
        refused = await browser_like.post(path, data={**good, field: bad})
        assert refused.status_code == 400 and says in refused.text, field
        # What was typed comes back, and nothing was stored.
        assert "Acme Shop" in refused.text
    async with httpx.AsyncClient(base_url=server.http) as http:
        before = await http.post(f"/api/v1/sites/{site.public_key}/visitors", json={},
                                 headers={"Origin": "https://acme.example"})
    assert before.json()["site"]["name"] == "Acme"

    saved = await browser_like.post(path, data=good)
    assert saved.status_code == 303
    page = await browser_like.get(saved.headers["location"])
    assert "Saved." in page.text and "https://www.acme.example" in page.text

    secret_page = await browser_like.post(
        f"{path}/identity", data={"csrf": csrf_of(page.text), "enforced": "on", "action": "new_secret"}
    )
    secret = re.search(r'id="secret" class="code" readonly value="([^"]+)"', secret_page.text)
    assert secret and len(secret.group(1)) >= 40
    again = await browser_like.get(path)
    assert secret.group(1) not in again.text and "never shown again" in again.text

    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await http.post(f"/api/v1/sites/{site.public_key}/visitors", json={},
                                 headers={"Origin": "https://www.acme.example"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["site"]["name"] == "Acme Shop"
    assert body["site"]["settings"] == {
        "color": "#0e9f6e", "greeting": "Hallo!", "locale": "nl", "position": "left",
        "prechat": "optional",
        "hours": {"timezone": "Europe/Amsterdam", "days": {"mon": ["09:00", "17:30"]}},
    }
    assert secret.group(1) not in answer.text and "sla" not in answer.text


async def test_disabling_an_agent_closes_their_sockets_and_ends_their_sessions(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    site = await server.add_site("Acme")
    await server.add_agent("admin@example.com", role="admin")
    bob = await server.add_agent("bob@example.com", site)
    bob_socket = await agent(server, "bob@example.com")
    bob_second_tab = await agent(server, "bob@example.com")
    await sign_in(browser_like, "admin@example.com")
    page = await browser_like.get("/console/admin/agents")
    done = await browser_like.post(
        f"/console/admin/agents/{bob.id}", data={"csrf": csrf_of(page.text), "action": "disable"}
    )
    assert done.status_code == 200 and "signed out everywhere" in done.text
    for socket in (bob_socket, bob_second_tab):
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.expect("nothing", timeout=5), 6)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

    # Neither the old session cookie nor the password gets Bob back in.
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await sign_in(http, "bob@example.com")).status_code == 401
        api = await http.post("/api/v1/login", json={"email": "bob@example.com", "password": PASSWORD})
        assert api.status_code == 401


async def test_a_new_password_signs_the_agent_out_everywhere(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    site = await server.add_site("Acme")
    await server.add_agent("admin@example.com", role="admin")
    bob = await server.add_agent("bob@example.com", site)
    bob_socket = await agent(server, "bob@example.com")
    await sign_in(browser_like, "admin@example.com")
    page = await browser_like.get("/console/admin/agents")
    done = await browser_like.post(
        f"/console/admin/agents/{bob.id}", data={"csrf": csrf_of(page.text), "action": "password"}
    )
    new_password = re.search(r'id="new-password" class="code" readonly value="([^"]+)"', done.text)
    assert new_password
    with pytest.raises(ConnectionClosed) as closed:
        await bob_socket.expect("nothing", timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await sign_in(http, "bob@example.com")).status_code == 401
        assert (await sign_in(http, "bob@example.com", new_password.group(1))).status_code == 303


async def test_admins_cannot_lock_themselves_out(server: Server, browser_like: httpx.AsyncClient) -> None:
    admin = await server.add_agent("admin@example.com", role="admin")
    await sign_in(browser_like, "admin@example.com")
    page = await browser_like.get("/console/admin/agents")
    for action, data in (("disable", {}), ("save", {"role": "agent", "max_chats": "5"})):
        refused = await browser_like.post(
            f"/console/admin/agents/{admin.id}", data={"csrf": csrf_of(page.text), "action": action, **data}
        )
        assert refused.status_code == 400 and "you cannot" in refused.text
    assert (await browser_like.get("/console/admin/agents")).status_code == 200


async def test_the_customer_sidebar_is_scoped_to_the_agents_sites(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    acme = await server.add_site("Acme")
    other = await server.add_site("Other")
    await server.add_agent("ann@example.com", acme)
    stranger = await visitor(server, other)
    await stranger.send(type="start", client_id="s1", text="Private question")
    await stranger.expect("ack")
    customer = await visitor(server, acme)
    await customer.send(type="start", client_id="q1", text="Where is my parcel?")
    await customer.expect("ack")
    await sign_in(browser_like, "ann@example.com")
    store = Store(server.store_url)
    try:
        async with store.read() as conn:
            rows = (await conn.execute(select(conversations.c.site_id, conversations.c.contact_id))).all()
    finally:
        await store.close()
    mine = next(r.contact_id for r in rows if r.site_id == acme.id)
    theirs = next(r.contact_id for r in rows if r.site_id == other.id)
    profile = await browser_like.get(f"/console/api/contacts/{mine}")
    assert profile.status_code == 200
    assert [c["summary"] for c in profile.json()["conversations"]] == ["Where is my parcel?"]
    assert (await browser_like.get(f"/console/api/contacts/{theirs}")).status_code == 404
    assert (await browser_like.get(f"/console/api/agents?site={other.id}")).status_code == 404
    assert (await browser_like.get(f"/console/api/canned?site={other.id}")).status_code == 404
    await stranger.close()
    await customer.close()


async def test_a_disabled_agents_chats_go_to_a_colleague(
    server: Server, browser_like: httpx.AsyncClient
) -> None:
    site = await server.add_site("Acme")
    await server.add_agent("admin@example.com", role="admin")
    bob = await server.add_agent("bob@example.com", site)
    await server.add_agent("cat@example.com", site)
    bob_socket = await agent(server, "bob@example.com")
    guest = await visitor(server, site)
    await guest.send(type="start", client_id="q1", text="hello, anyone?")
    conversation = (await guest.expect("ack"))["conversation"]
    await guest.expect("conversation", conversation=Chat(conversation, "assigned", {"name": "bob"}))
    cat = await agent(server, "cat@example.com")
    await sign_in(browser_like, "admin@example.com")
    page = await browser_like.get("/console/admin/agents")
    await browser_like.post(
        f"/console/admin/agents/{bob.id}", data={"csrf": csrf_of(page.text), "action": "disable"}
    )
    # Nobody is left waiting on an agent who can no longer answer.
    await cat.expect("conversation", conversation=Chat(conversation, "assigned", {"id": cat.me}))
    await guest.expect("conversation", conversation=Chat(conversation, "assigned", {"name": "cat"}))
    for client in (bob_socket, cat, guest):
        await client.close()


def test_devices_and_languages_are_named_in_the_readers_language() -> None:
    chrome = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
    assert customer.device(chrome, "en") == "Chrome on Windows"
    assert customer.device(chrome, "nl") == "Chrome op Windows"
    assert customer.device("Mozilla/5.0 (iPhone) Safari/604.1", "nl") == "Safari op iPhone"
    assert customer.language("nl", "en") == "Dutch" and customer.language("de", "nl") == "Duits"
