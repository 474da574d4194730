"""The public REST API over real HTTP: tokens and scopes, sites kept apart, pages, idempotency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatserver import sites
from chatserver.public_api import limits, tokens
from chatserver.store import Store
from conftest import Chat, Client, Server, agent, assigned_chat, visitor

pytestmark = pytest.mark.shared_server
API = "/api/v2"


async def token(server: Server, site: sites.Site, *scopes: str, name: str = "CRM sync") -> str:
    store = Store(server.store_url)
    try:
        return (await tokens.create(store, site.id, name, list(scopes)))[1]
    finally:
        await store.close()


class Api:
    """A client of the public API with one token."""

    def __init__(self, server: Server, secret: str | None) -> None:
        self.base = server.http + API
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    async def call(self, method: str, path: str, body: Any = None, key: str | None = None,
                   **params: Any) -> httpx.Response:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        async with httpx.AsyncClient() as http:
            return await http.request(method, self.base + path, json=body, headers=headers,
                                      params=params or None)


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the one error shape, with this status and code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and body["code"] == code and body["message"], body
    return dict(body)


async def test_scopes_sites_and_revocation(server: Server) -> None:
    shop, other = await server.add_site("Shop"), await server.add_site("Other")
    reader = Api(server, await token(server, shop, "read"))
    writer = Api(server, await token(server, shop, "write"))
    stranger = Api(server, await token(server, other, "admin"))

    refused(await Api(server, None).call("GET", "/contacts"), 401, "unauthorized")
    refused(await Api(server, "csk_made-up").call("GET", "/contacts"), 401, "unauthorized")
    refused(await reader.call("POST", "/contacts", {"name": "Eve"}), 403, "forbidden")
    assert (await reader.call("GET", "/contacts")).json() == {"data": [], "next_cursor": None}

    made = await writer.call("POST", "/contacts", {"name": "Ann", "email": "ann@example.com",
                                                   "external_id": "u-1"})
    assert made.status_code == 201, made.text
    ann = made.json()
    assert (await reader.call("GET", f"/contacts/{ann['id']}")).json()["email"] == "ann@example.com"
    found = await reader.call("GET", "/contacts", external_id="u-1")
    assert [c["id"] for c in found.json()["data"]] == [ann["id"]]
    by_mail = await reader.call("GET", "/contacts", email="ANN@example.com")
    assert [c["id"] for c in by_mail.json()["data"]] == [ann["id"]]

    # Another site's token, even an admin one, sees nothing of this site's.
    refused(await stranger.call("GET", f"/contacts/{ann['id']}"), 404, "not_found")
    assert (await stranger.call("GET", "/contacts")).json()["data"] == []
    merge = await stranger.call("POST", f"/contacts/{ann['id']}/merge", {"from": ann["id"]})
    refused(merge, 404, "not_found")
    # Reports and merges are for admin tokens; a write token is refused.
    refused(await writer.call("GET", "/reports/volume"), 403, "forbidden")
    report = await stranger.call("GET", "/reports/volume")
    assert report.status_code == 200 and report.json()["columns"][0] == "day"

    store = Store(server.store_url)
    try:
        listed = await tokens.of_site(store, shop.id)
        assert {t.name for t in listed} == {"CRM sync"} and all(t.prefix.startswith("csk_") for t in listed)
        assert any(t.last_used_at for t in listed)
        assert await tokens.revoke(store, shop.id, listed[0].id)
        assert not await tokens.revoke(store, other.id, listed[1].id)  # not the other site's to revoke
    finally:
        await store.close()
    revoked = reader if listed[0].scopes == ("read",) else writer
    refused(await revoked.call("GET", "/contacts"), 401, "unauthorized")


async def test_pages_have_no_gaps_or_repeats_while_items_are_added(server: Server) -> None:
    shop = await server.add_site("Shop")
    api = Api(server, await token(server, shop, "write"))
    for n in range(23):
        assert (await api.call("POST", "/contacts", {"name": f"c{n}"})).status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await api.call("GET", "/contacts", **params)).json()
        seen += [c["name"] for c in page["data"]]
        pages += 1
        if pages == 1:  # added after the first page was read: they come on later pages
            for n in range(23, 26):
                await api.call("POST", "/contacts", {"name": f"c{n}"})
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c{n}" for n in range(26)] and pages == 3

    refused(await api.call("GET", "/contacts", cursor="not-a-cursor"), 400, "invalid_parameter")
    refused(await api.call("GET", "/contacts", limit=0), 400, "invalid_parameter")
    refused(await api.call("GET", "/contacts", limit="ten"), 400, "invalid_parameter")


async def test_an_idempotency_key_replays_the_first_answer(server: Server) -> None:
    shop = await server.add_site("Shop")
    api = Api(server, await token(server, shop, "write"))
    first = await api.call("POST", "/contacts", {"name": "Bo", "email": "bo@example.com"}, key="k-1")
    again = await api.call("POST", "/contacts", {"email": "bo@example.com", "name": "Bo"}, key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    refused(await api.call("POST", "/contacts", {"name": "Someone else"}, key="k-1"), 422,
            "idempotency_mismatch")
    listed = (await api.call("GET", "/contacts", email="bo@example.com")).json()["data"]
    assert [c["id"] for c in listed] == [first.json()["id"]]

    # A refused create leaves its key free for the corrected request.
    await api.call("POST", "/contacts", {"external_id": "u-9"})
    refused(await api.call("POST", "/contacts", {"external_id": "u-9"}, key="k-2"), 409, "conflict")
    fixed = await api.call("POST", "/contacts", {"external_id": "u-9"}, key="k-2")
    refused(fixed, 409, "conflict")  # the same conflict, answered again rather than replayed
    assert "Idempotent-Replayed" not in fixed.headers


async def test_bad_input_gets_one_error_shape_and_changes_nothing(server: Server) -> None:
    shop = await server.add_site("Shop")
    api = Api(server, await token(server, shop, "admin"))
    async with httpx.AsyncClient() as http:
        raw = await http.post(api.base + "/contacts", content=b'{"name": "Ann"', headers=api.headers)
        refused(raw, 400, "invalid_json")
        big = await http.post(api.base + "/contacts", content=b'{"name": "' + b"x" * 20000 + b'"}',
                              headers=api.headers)
        refused(big, 413, "too_large")
        refused(await http.delete(api.base + "/contacts", headers=api.headers), 405, "method_not_allowed")
        refused(await http.get(api.base + "/nothing-here", headers=api.headers), 404, "not_found")
    refused(await api.call("POST", "/contacts", {"name": "Ann", "role": "admin"}), 400, "invalid_message")
    refused(await api.call("POST", "/contacts", {"name": 7}), 400, "invalid_message")
    refused(await api.call("POST", "/contacts", {"email": "not an address"}), 400, "invalid_message")
    refused(await api.call("POST", "/contacts", ["a list"]), 400, "invalid_json")
    refused(await api.call("GET", "/contacts/" + "x" * 300), 400, "invalid_parameter")
    refused(await api.call("GET", "/conversations/no'such"), 400, "invalid_parameter")
    refused(await api.call("GET", "/contacts", colour="blue"), 400, "invalid_parameter")
    refused(await api.call("GET", "/tickets/abc"), 404, "not_found")
    refused(await api.call("GET", "/reports/nope"), 404, "not_found")
    assert (await api.call("GET", "/contacts")).json()["data"] == []


async def test_api_messages_reach_the_visitor_and_the_agent_live(
    server: Server, clients: list[Client]
) -> None:
    shop, other = await server.add_site("Shop"), await server.add_site("Other")
    await server.add_agent("ann@example.com", shop, name="Ann")
    bob = await server.add_agent("bob@example.com", shop, name="Bob")
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, shop)
    clients += [ann, guest]
    chat = await assigned_chat(ann, guest)
    await ann.send(type="sync", conversation=chat, after=0)  # the console opens the chat
    await ann.expect("synced", conversation=chat)
    api = Api(server, await token(server, shop, "write", name="Order bot"))

    sent = await api.call("POST", f"/conversations/{chat}/messages", {"text": "Your parcel left today."},
                          key="m-1")
    assert sent.status_code == 201, sent.text
    author = {"kind": "integration", "id": sent.json()["author"]["id"], "name": "Order bot"}
    heard = await guest.expect("message", conversation=chat, text="Your parcel left today.")
    assert heard["author"] == author and heard["seq"] == sent.json()["seq"]
    await ann.expect("message", conversation=chat, text="Your parcel left today.")
    again = await api.call("POST", f"/conversations/{chat}/messages", {"text": "Your parcel left today."},
                           key="m-1")
    assert again.json() == sent.json()
    await guest.quiet("message", text="Your parcel left today.")

    # As an agent: only one who holds the chat (or an admin), as in the console.
    refused(await api.call("POST", f"/conversations/{chat}/messages",
                           {"text": "hi", "as": "agent", "agent_id": bob.id}), 403, "forbidden")
    refused(await api.call("POST", f"/conversations/{chat}/messages", {"text": "hi", "as": "agent"}),
            400, "invalid_message")
    ann_id = ann.me
    assert ann_id is not None
    as_ann = await api.call("POST", f"/conversations/{chat}/messages",
                            {"text": "Ann here, via our CRM", "as": "agent", "agent_id": ann_id})
    assert as_ann.status_code == 201, as_ann.text
    heard = await guest.expect("message", conversation=chat, text="Ann here, via our CRM")
    assert heard["author"]["kind"] == "agent" and heard["author"]["name"] == "Ann"

    moved = await api.call("POST", f"/conversations/{chat}/assign", {"agent_id": bob.id})
    assert moved.status_code == 200 and moved.json()["agent"]["id"] == bob.id, moved.text

    # The history reads back in order, a page at a time, with the integration's name.
    first = (await api.call("GET", f"/conversations/{chat}/messages", limit=2)).json()
    rest = (await api.call("GET", f"/conversations/{chat}/messages", cursor=first["next_cursor"])).json()
    history = first["data"] + rest["data"]
    assert [m["seq"] for m in history] == [1, 2, 3] and rest["next_cursor"] is None
    assert history[1]["author"] == author

    stranger = Api(server, await token(server, other, "admin"))
    refused(await stranger.call("GET", f"/conversations/{chat}"), 404, "not_found")
    refused(await stranger.call("POST", f"/conversations/{chat}/messages", {"text": "hi"}), 404, "not_found")
    refused(await stranger.call("POST", f"/conversations/{chat}/close"), 404, "not_found")
    assert (await stranger.call("GET", "/conversations")).json()["data"] == []

    closed = await api.call("POST", f"/conversations/{chat}/close")
    assert closed.json()["status"] == "closed"
    await guest.expect("conversation", conversation=Chat(chat, "closed"))
    refused(await api.call("POST", f"/conversations/{chat}/messages", {"text": "late"}), 409, "conflict")
    listed = (await api.call("GET", "/conversations", status="closed")).json()["data"]
    assert [c["id"] for c in listed] == [chat]


async def test_tickets_and_a_merge_that_joins_histories(server: Server) -> None:
    shop = await server.add_site("Shop")
    bob = await server.add_agent("bob@example.com", shop, name="Bob")
    api = Api(server, await token(server, shop, "write"))
    admin = Api(server, await token(server, shop, "admin"))
    chat_contact = (await api.call("POST", "/contacts", {"name": "Dee", "external_id": "u-7"})).json()

    opened = await api.call("POST", "/tickets", {"email": "dee@example.com", "subject": "Refund",
                                                 "text": "Where is my refund?"}, key="t-1")
    assert opened.status_code == 201, opened.text
    ticket = opened.json()["ticket"]
    assert ticket["source"] == "api" and ticket["contact"]["email"] == "dee@example.com"
    assert (await api.call("POST", "/tickets", {"email": "dee@example.com", "subject": "Refund",
                                                "text": "Where is my refund?"}, key="t-1")).json() \
        == opened.json()
    replied = await api.call("POST", f"/tickets/{ticket['id']}/replies",
                             {"text": "On its way.", "agent_id": bob.id, "status": "pending"})
    assert replied.status_code == 201 and replied.json()["ticket"]["status"] == "pending", replied.text
    assert [e["kind"] for e in replied.json()["entries"]] == ["customer", "agent"]
    changed = await api.call("PATCH", f"/tickets/{ticket['id']}", {"status": "solved", "tags": ["Refund"]})
    assert changed.json()["ticket"]["status"] == "solved" and changed.json()["ticket"]["tags"] == ["refund"]
    refused(await api.call("PATCH", f"/tickets/{ticket['id']}", {"status": "new"}), 400, "invalid_message")
    assert [t["id"] for t in (await api.call("GET", "/tickets", status="solved")).json()["data"]] \
        == [ticket["id"]]

    # The mail contact and the chat contact are one person: merged, one history.
    mail_contact = ticket["contact"]["id"]
    refused(await api.call("POST", f"/contacts/{chat_contact['id']}/merge", {"from": mail_contact}),
            403, "forbidden")
    merged = await admin.call("POST", f"/contacts/{chat_contact['id']}/merge", {"from": mail_contact})
    assert merged.status_code == 200, merged.text
    assert merged.json()["email"] == "dee@example.com" and merged.json()["external_id"] == "u-7"
    assert [h["id"] for h in merged.json()["history"]] == [ticket["id"]]
    refused(await api.call("GET", f"/contacts/{mail_contact}"), 404, "not_found")
    moved = (await api.call("GET", f"/tickets/{ticket['id']}")).json()["ticket"]
    assert moved["contact"]["id"] == chat_contact["id"]
    refused(await admin.call("POST", f"/contacts/{chat_contact['id']}/merge", {"from": chat_contact["id"]}),
            409, "conflict")

    # A visitor who chatted anonymously turns out to be the same person: their chat joins too.
    guest = await visitor(server, shop)
    await guest.send(type="start", client_id="s1", text="zxqv my blender hums")
    chat = (await guest.expect("ack"))["conversation"]
    await guest.close()
    anonymous = (await api.call("GET", f"/conversations/{chat}")).json()["contact"]["id"]
    joined = await admin.call("POST", f"/contacts/{chat_contact['id']}/merge", {"from": anonymous})
    assert [h["id"] for h in joined.json()["history"]] == [chat, ticket["id"]], joined.text
    listed = (await api.call("GET", "/conversations", contact=chat_contact["id"])).json()["data"]
    assert [c["id"] for c in listed] == [chat]
    said = (await api.call("GET", f"/conversations/{chat}/messages")).json()["data"]
    assert [(m["author"]["kind"], m["author"]["id"], m["text"]) for m in said] == [
        ("visitor", chat_contact["id"], "zxqv my blender hums")]


async def test_articles_read_for_all_written_by_admins(server: Server) -> None:
    shop = await server.add_site("Shop")
    reader = Api(server, await token(server, shop, "read"))
    writer = Api(server, await token(server, shop, "write"))
    admin = Api(server, await token(server, shop, "admin"))
    unique = "".join(c for c in shop.id.lower() if c.isalnum())
    article = {"locale": "en", "slug": f"api-gift-wrap-{unique}", "title": "Gift wrap",
               "body": "We wrap gifts for free.", "tags": ["orders"]}
    refused(await writer.call("POST", "/articles", article), 403, "forbidden")
    made = await admin.call("POST", "/articles", article, key="a-1")
    assert made.status_code == 201 and made.json()["url"].endswith(f"/help/en/{article['slug']}"), made.text
    refused(await admin.call("POST", "/articles", article), 409, "conflict")
    refused(await admin.call("POST", "/articles", {**article, "slug": "Bad Slug"}), 400, "invalid_message")
    changed = await admin.call("PATCH", f"/articles/en/{article['slug']}", {"title": "Gift wrapping"})
    assert changed.json()["title"] == "Gift wrapping" and changed.json()["body"] == article["body"]
    assert (await reader.call("GET", f"/articles/en/{article['slug']}")).json()["title"] == "Gift wrapping"
    page = (await reader.call("GET", "/articles", locale="en", limit=5)).json()
    assert len(page["data"]) == 5 and page["next_cursor"]
    refused(await reader.call("GET", "/articles/xx/nope"), 404, "not_found")


def test_the_command_line_creates_lists_and_revokes_tokens(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "chatserver", *args, "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)

    assert run("sites", "add", "--name", "Shop").returncode == 0
    key = json.loads(run("sites", "list", "--json").stdout)[0]["key"]
    made = run("api-token", "create", "--site", key, "--name", "CRM", "--scope", "read")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.split("(shown once, keep it secret): ")[1].strip()
    listed = json.loads(run("api-token", "list", "--site", key, "--json").stdout)
    assert [(t["name"], t["scopes"], t["prefix"]) for t in listed] == [("CRM", ["read"], secret[:12])]
    assert secret not in run("api-token", "list", "--site", key).stdout
    assert run("api-token", "revoke", "--site", key, listed[0]["id"]).returncode == 0
    again = run("api-token", "revoke", "--site", key, listed[0]["id"])
    assert again.returncode == 2 and "no live token" in again.stderr
    bad = run("api-token", "create", "--site", key, "--name", "CRM", "--scope", "root")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_a_token_that_calls_too_often_waits_for_the_next_window() -> None:
    window = limits.Window(limit=3, seconds=60)
    assert [window.take("t1", now=100.0) for _ in range(3)] == [None, None, None]
    assert window.take("t1", now=130.0) == 30.0
    assert window.take("t2", now=130.0) is None  # another token has its own window
    assert window.take("t1", now=160.0) is None


async def test_the_door_refuses_a_token_past_its_rate(server: Server) -> None:
    shop = await server.add_site("Shop")
    headers = {"Authorization": f"Bearer {await token(server, shop, 'read')}"}
    async with httpx.AsyncClient(base_url=server.http + API, headers=headers) as http:
        for _ in range(limits.CALLS_PER_MINUTE):
            assert (await http.get("/contacts", params={"limit": 1})).status_code == 200
        over = await http.get("/contacts")
    refused(over, 429, "rate_limited")
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    # Another token of the same site is not held back.
    assert (await Api(server, await token(server, shop, "read")).call("GET", "/contacts")).status_code == 200
