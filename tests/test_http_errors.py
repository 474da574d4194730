"""Every HTTP error of the JSON API has the one error shape; odd JSON is refused at the edge."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from test_console import csrf_of, sign_in

from chatserver import json_input, sites
from chatserver.store import Store
from conftest import PASSWORD, Server


def _shaped(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body == {"type": "error", "code": code, "message": body["message"]} and body["message"]


# The rules, without a server ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"[" * 5000 + b"]" * 5000, "nested"),
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "nested"),
        (b'{"name": "\\ud800"}', "surrogate"),
        (b'{"\\udfff": 1}', "surrogate"),
        (b'{"n": 9223372036854775808}', "integer"),
        (b'{"n": -9223372036854775809}', "integer"),
        (b'{"n": NaN}', "number"),
        (b'{"n": 1e400}', "number"),
        (b'{"n": 1' + b"0" * 5000 + b"}", "JSON"),
        (b"\xff\xfe{}", "JSON"),
        (b'{"a": 1', "JSON"),
        (b"[]", "object"),
    ],
)
def test_odd_json_is_refused_with_a_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(json_input.BadJson, match=problem):
        json_input.loads(raw)


def test_ordinary_json_passes() -> None:
    body = {"a": [1, -2, 2**63 - 1, -(2**63), 1.5, True, None, "héllo 👋"], "b": {"c": [[[]]]}}
    assert json_input.loads(httpx.Response(200, json=body).content) == body
    assert json_input.loads(b"") == {}
    assert json_input.loads('{"text": "frame"}') == {"text": "frame"}
    with pytest.raises(json_input.BadJson, match="surrogate"):
        json_input.loads('{"text": "\\ud800"}')


def test_an_origin_must_match_scheme_host_and_port() -> None:
    site = sites.Site("s", "k", "Shop", ("https://shop.example",), {})
    assert sites.origin_allowed(site, "https://shop.example", "chat.example", "https")
    assert not sites.origin_allowed(site, "http://shop.example", "chat.example", "https")
    assert not sites.origin_allowed(site, "https://shop.example:8443", "chat.example", "https")
    # Served by chatserver itself: the same scheme as the request, not only the same host.
    assert sites.origin_allowed(site, "http://chat.example", "chat.example", "http")
    assert not sites.origin_allowed(site, "http://chat.example", "chat.example", "https")
    assert sites.origin_allowed(site, "https://chat.example", "chat.example:443", "wss")
    assert not sites.origin_allowed(site, "http://chat.example", "chat.example", "wss")
    assert sites.normalize_origin("HTTPS://Shop.Example:443/") == "https://shop.example"
    assert sites.same_origin("https://chat.example", "chat.example", "https")
    assert not sites.same_origin("http://chat.example", "chat.example", "https")


# Over the wire ------------------------------------------------------------------------------


async def test_every_api_error_has_the_one_shape(server: Server) -> None:
    site = await server.add_site("Shop", ["https://shop.example"])
    visitors = f"/api/v1/sites/{site.public_key}/visitors"
    own = {"Origin": server.http}
    async with httpx.AsyncClient(base_url=server.http) as http:
        _shaped(await http.get("/api/v1/nothing-here"), 404, "not_found")
        _shaped(await http.post("/api/v1/sites/nope/visitors", json={}, headers=own), 404, "not_found")
        wrong_method = await http.get("/api/v1/login")
        _shaped(wrong_method, 405, "method_not_allowed")
        assert wrong_method.headers["allow"] == "POST"
        _shaped(await http.post(visitors, content=b"{" + b" " * 20_000 + b"}", headers=own), 413, "too_large")
        huge = b'{"identity": {"id": "u", "hash": "' + b"0" * 64 + b'", "expires": 9223372036854775808}}'
        as_json = {**own, "Content-Type": "application/json"}
        for raw in (b"[" * 5000 + b"]" * 5000, b'{"profile": {"name": "\\ud800"}}', huge,
                    b'{"timezone": 18446744073709551616}'):
            answer = await http.post(visitors, content=raw, headers=as_json)
            _shaped(answer, 400, "invalid_json")
            # A refusal still lets the page read why (CORS).
            assert answer.headers["access-control-allow-origin"] == server.http
        foreign = await http.post(visitors, json={}, headers={"Origin": "http://shop.example"})
        _shaped(foreign, 403, "forbidden")
        # Behind a TLS proxy (trusted on loopback), a plain-http page of the server's own host
        # is another origin; the https one is the server's own.
        proxied = {"Host": "chat.example", "X-Forwarded-Proto": "https"}
        plain = await http.post(visitors, json={}, headers={**proxied, "Origin": "http://chat.example"})
        _shaped(plain, 403, "forbidden")
        secure = await http.post(visitors, json={}, headers={**proxied, "Origin": "https://chat.example"})
        assert secure.status_code == 200
        # The console's pages keep their own (HTML or plain) errors.
        page = await http.get("/console/nothing-here")
        assert page.status_code == 404 and not page.headers["content-type"].startswith("application/json")


async def test_a_failure_inside_the_server_answers_500_in_the_shape(server: Server) -> None:
    await server.add_agent("ann@example.com")
    store = Store(server.store_url)
    try:
        async with store.write() as conn:
            await conn.execute(text("DROP TABLE login_attempts"))
    finally:
        await store.close()
    async with httpx.AsyncClient(base_url=server.http) as http:
        answer = await http.post("/api/v1/login", json={"email": "ann@example.com", "password": PASSWORD})
        _shaped(answer, 500, "internal")
        assert "login_attempts" not in answer.text  # nothing of the cause leaks
    # uvicorn closes a connection whose request raised, so a new client for the next one.
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/console/signin")
        broken = await http.post("/console/signin", data={
            "csrf": csrf_of(page.text), "email": "ann@example.com", "password": PASSWORD,
        })
        assert broken.status_code == 500
        assert not broken.headers["content-type"].startswith("application/json")


async def test_adding_an_agent_without_a_cap_uses_the_default(server: Server) -> None:
    await server.add_agent("admin@example.com", role="admin")
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        await sign_in(http, "admin@example.com")
        page = await http.get("/console/admin/agents")
        added = await http.post("/console/admin/agents", data={
            "csrf": csrf_of(page.text), "email": "dan@example.com", "name": "Dan", "role": "agent",
        })
        assert added.status_code == 200 and "dan@example.com" in added.text
        page = await http.get("/console/admin/agents")
        refused = await http.post("/console/admin/agents", data={
            "csrf": csrf_of(page.text), "email": "eve@example.com", "name": "Eve", "max_chats": "lots",
        })
        assert refused.status_code == 400 and "max chats must be" in refused.text
        page = await http.get("/console/admin/agents")
        bare = await http.post("/console/admin/agents", data={"csrf": csrf_of(page.text)})
        assert bare.status_code == 400


async def test_console_forms_and_the_ticket_api_compare_the_scheme_too(server: Server) -> None:
    await server.add_agent("ann@example.com")
    proxied = {"Host": "chat.example", "X-Forwarded-Proto": "https"}
    async with httpx.AsyncClient(base_url=server.http) as http:
        plain = await http.post("/console/signin", data={"email": "ann@example.com"},
                                headers={**proxied, "Origin": "http://chat.example"})
        assert plain.status_code == 403 and "sent from another site" in plain.text
        secure = await http.post("/console/signin", data={"email": "ann@example.com"},
                                 headers={**proxied, "Origin": "https://chat.example"})
        assert "sent from another site" not in secure.text  # refused for its missing token only
        ticket = await http.post("/api/v1/tickets/x/notes", json={"text": "hi"},
                                 headers={**proxied, "Origin": "http://chat.example"})
        _shaped(ticket, 403, "forbidden")
