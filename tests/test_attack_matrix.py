"""The attack matrix (issue 15): every public door, HTTP endpoint and visitor frame type alike,
times a burst over its limit, malformed input and a foreign origin. Each case asserts the
refusal and that a well-behaved visitor of the same site is not affected."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from limit_clients import set_limits, visitor_from
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chatserver import protocol, sites
from chatserver.store import Store
from chatserver.store.schema import conversations, messages
from conftest import Client, Server, visitor

pytestmark = pytest.mark.shared_server

ATTACKER = "127.0.0.2"
FOREIGN = "https://evil.example"
# Small budgets for the attacker's visitor and network, so a burst is a handful of frames.
BURST = 3
SMALL = {door: {"visitor": [BURST, 3600], "network": [BURST, 3600]}
         for door in ("start", "message", "search", "mail", "frame")}
EMAIL = "someone@example.com"


def frame(kind: str, conversation: str, n: int) -> dict[str, Any]:
    """A well-formed frame of each visitor type."""
    c, cid = {"conversation": conversation}, {"client_id": f"x{n}"}
    return {"type": kind, **{
        "start": {**cid, "text": f"zxqv question {n}"},
        "message": {**c, **cid, "text": f"hello {n}"},
        "typing": {**c, "active": True},
        "receipt": {**c, "seq": 1, "status": "read"},
        "sync": {**c, "after": 0},
        "escalate": c, "close": c, "resolve": c, "ping": {}, "conversations": {},
        "search": {"text": f"refund {n}"},
        "article": {"slug": "no-such-article", "locale": "en"},
        "rate": {**c, "score": "good"},
        "leave_email": {**c, **cid, "email": EMAIL, "text": "call me"},
        "transcript": {**c, **cid, "email": EMAIL},
        "verify_email": {**cid, "email": EMAIL},
        "confirm_email": {**cid, "email": EMAIL, "code": "123456"},
    }[kind]}


FRAMES = sorted(protocol.VISITOR_TYPES - {"hello"})
HTTP = {
    "token": ("POST", "/api/v1/sites/{key}/visitors", {"token": {"network": [BURST, 3600]}}),
    "proactive": ("GET", "/api/v1/sites/{key}/proactive", {"frame": {"network": [BURST, 3600]}}),
    "proactive_shown": ("POST", "/api/v1/sites/{key}/proactive/r1/shown",
                        {"frame": {"network": [BURST, 3600]}}),
}


async def _stored(server: Server, site: sites.Site) -> tuple[int, int]:
    """Conversations and messages stored for the site."""
    store = Store(server.store_url)
    try:
        async with store.read() as conn:
            chats = (await conn.execute(
                select(func.count()).where(conversations.c.site_id == site.id))).scalar()
            said = (await conn.execute(select(func.count()).select_from(messages.join(conversations))
                                       .where(conversations.c.site_id == site.id))).scalar()
    finally:
        await store.close()
    return int(chats or 0), int(said or 0)


async def _unaffected(server: Server, site: sites.Site, clients: list[Client]) -> None:
    """A visitor of the site on another address chats as ever."""
    calm = await visitor(server, site)
    clients.append(calm)
    await calm.send(type="start", client_id="calm", text="zxqv where is my parcel")
    chat = (await calm.expect("ack", ref="calm"))["conversation"]
    await calm.send(type="message", conversation=chat, client_id="calm2", text="thanks")
    assert (await calm.expect("ack", ref="calm2"))["seq"] == 2


async def _attacker(server: Server, clients: list[Client]) -> tuple[sites.Site, Client, str]:
    site = await server.add_site()
    await set_limits(server, site, SMALL)
    site = await _reload(server, site)
    attacker = await visitor_from(server, site, ATTACKER)
    clients.append(attacker)
    await attacker.send(type="start", client_id="first", text="zxqv first question")
    chat = (await attacker.expect("ack", ref="first"))["conversation"]
    return site, attacker, chat


async def _reload(server: Server, site: sites.Site) -> sites.Site:
    store = Store(server.store_url)
    try:
        found = await sites.by_id(store, site.id)
    finally:
        await store.close()
    assert found is not None
    return found


@pytest.mark.parametrize("kind", FRAMES)
async def test_a_burst_of_frames_is_rate_limited(kind: str, server: Server, clients: list[Client]) -> None:
    site, attacker, chat = await _attacker(server, clients)
    for n in range(BURST + 2):
        await attacker.send(**frame(kind, chat, n))
    limited = await attacker.expect("error", code="rate_limited")
    assert limited["retry_after"] > 0 and "try again in" in limited["message"]
    await _unaffected(server, site, clients)


@pytest.mark.parametrize("kind", FRAMES)
async def test_a_malformed_frame_is_refused_and_changes_nothing(
    kind: str, server: Server, clients: list[Client]
) -> None:
    site, attacker, chat = await _attacker(server, clients)
    before = await _stored(server, site)
    good = frame(kind, chat, 1)
    bad = {key: {"$": 1} for key in good if key != "type"}
    if bad:
        await attacker.send(type=kind, **bad)
    else:
        await attacker.ws.send(json.dumps({"type": kind})[:-1] + ",")  # no keys: spoil the JSON
    refused = await attacker.expect("error")
    assert refused["code"] in ("invalid_message", "invalid_json")
    assert await _stored(server, site) == before
    await attacker.send(type="ping")  # the socket is still open
    await attacker.expect("pong")
    await _unaffected(server, site, clients)


@pytest.mark.parametrize("kind", FRAMES)
async def test_a_foreign_origin_never_reaches_a_frame(
    kind: str, server: Server, clients: list[Client]
) -> None:
    site, _, _ = await _attacker(server, clients)
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{server.ws}/ws/visitor?site={site.public_key}", origin=FOREIGN)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    await _unaffected(server, site, clients)


async def _http(
    server: Server, door: str, site: sites.Site, origin: str = "", body: str = "{}"
) -> httpx.Response:
    method, path, _ = HTTP[door]
    transport = httpx.AsyncHTTPTransport(local_address=ATTACKER)
    async with httpx.AsyncClient(transport=transport) as http:
        return await http.request(method, server.http + path.format(key=site.public_key),
                                  headers={"Origin": origin or server.http,
                                           "Content-Type": "application/json"},
                                  content=body if method == "POST" else None)


@pytest.mark.parametrize("door", sorted(HTTP))
async def test_a_burst_of_http_requests_gets_429(door: str, server: Server, clients: list[Client]) -> None:
    site = await server.add_site()
    await set_limits(server, site, HTTP[door][2])
    answers = [await _http(server, door, site) for _ in range(BURST + 1)]
    assert [a.status_code == 429 for a in answers] == [False] * BURST + [True]
    assert answers[-1].json()["code"] == "rate_limited" and int(answers[-1].headers["retry-after"]) >= 1
    await _unaffected(server, site, clients)


@pytest.mark.parametrize("door", sorted(HTTP))
async def test_malformed_http_input_is_refused(door: str, server: Server, clients: list[Client]) -> None:
    site = await server.add_site()
    answer = await _http(server, door, site, body='{"token": ')
    if HTTP[door][0] == "GET":
        # No body to spoil: the site key is the input.
        answer = await _http(server, door, sites.Site(**{**vars(site), "public_key": "no-such-site"}))
        assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    else:
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_json"
    await _unaffected(server, site, clients)


@pytest.mark.parametrize("door", sorted(HTTP))
async def test_a_foreign_origin_is_refused_over_http(
    door: str, server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    answer = await _http(server, door, site, origin=FOREIGN)
    assert answer.status_code == 403 and answer.json() == protocol.error(
        "forbidden", "this origin is not allowed for the site")
    assert answer.headers["access-control-allow-origin"] == FOREIGN  # the page may read why
    assert json.loads(answer.text)["type"] == "error"
    await _unaffected(server, site, clients)
