"""Signed webhooks: signing and the address guard without I/O; then real receivers on loopback
(http.server threads) fed by a real server whose instance allow-list names 127.0.0.0/8."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatserver import cli, sites
from chatserver.store import Store
from chatserver.webhooks import delivery, events, guard, outbox, signing, subscriptions
from chatserver.webhooks.settings import WebhookSettings
from conftest import Chat, Server, Template, agent, free_port, login, visitor

DOCS = Path(__file__).parent.parent / "docs" / "webhooks.md"
# Fast retries and a short timeout, so that dead letters and cut-off receivers take seconds.
FAST = {"CHATSERVER_WEBHOOK_RETRY_SECONDS": "0.2", "CHATSERVER_WEBHOOK_ATTEMPTS": "4",
        "CHATSERVER_WEBHOOK_TIMEOUT_SECONDS": "1"}
WAIT = 20.0
numbers = itertools.count(1)


# Signing ----------------------------------------------------------------------------------


def test_a_signature_verifies_and_a_tampered_body_or_old_time_does_not() -> None:
    body = b'{"id":"e1","type":"ping"}'
    header = signing.sign("whsec_x", body, timestamp=1_800_000_000)
    assert re.fullmatch(r"t=1800000000,v1=[0-9a-f]{64}", header)
    assert signing.verify("whsec_x", body, header, now=1_800_000_010) == 1_800_000_000
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("whsec_x", body.replace(b"ping", b"pong"), header, now=1_800_000_010)
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("whsec_other", body, header, now=1_800_000_010)
    with pytest.raises(signing.SignatureError, match="old"):
        signing.verify("whsec_x", body, header, now=1_800_000_000 + signing.TOLERANCE_SECONDS + 1)
    # A fresh time on a captured signature breaks it: the time is signed too.
    forged = header.replace("t=1800000000", "t=1800000900")
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("whsec_x", body, forged, now=1_800_000_900)
    for bad in ("", "v1=abc", "t=soon,v1=abc", "t=1,t=2,v1=abc"):
        with pytest.raises(signing.SignatureError, match="expected a header"):
            signing.verify("whsec_x", body, bad)


def test_secrets_are_long_and_fresh() -> None:
    first, second = signing.new_secret(), signing.new_secret()
    assert first != second and first.startswith("whsec_") and len(first) > 40


# The guard --------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "127.0.0.1", "::1", "0.0.0.0",
    "224.0.0.1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "100.64.0.1", "240.0.0.1",
])
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address: str) -> None:
    assert guard.why_refused(ip_address(address)) is not None
    with pytest.raises(guard.Refused, match="allow-list"):
        guard.check([ip_address(address)])


def test_public_addresses_pass_and_an_allow_list_opens_a_private_network() -> None:
    assert guard.why_refused(ip_address("93.184.216.34")) is None
    assert guard.why_refused(ip_address("2606:2800:220:1:248:1893:25c8:1946")) is None
    loopback = guard.parse_networks(["127.0.0.0/8"])
    assert guard.check([ip_address("127.0.0.1")], loopback) == ip_address("127.0.0.1")
    assert guard.why_refused(ip_address("::1"), loopback) is not None  # v6 loopback is not in it
    assert guard.why_refused(ip_address("10.0.0.1"), loopback) is not None
    # One private address among public ones refuses the name: it could be steered there.
    with pytest.raises(guard.Refused, match="10.0.0.1 is a private"):
        guard.check([ip_address("93.184.216.34"), ip_address("10.0.0.1")])
    with pytest.raises(guard.Refused, match="not a network"):
        guard.parse_networks(["10.0.0.0/33"])


def test_urls_are_checked_for_form() -> None:
    assert guard.parse_url("https://hooks.example/in?x=1") == guard.Target(
        "https", "hooks.example", 443, "/in?x=1")
    assert guard.parse_url("http://[::1]:8080").port == 8080
    for bad, why in (("ftp://x.example/", "https://"), ("https:///path", "no host"),
                     ("https://user:pw@x.example/", "user name"), ("https://x.example:99999/", "read"),
                     ("https://x.example/" + "a" * 2000, "longer")):
        with pytest.raises(guard.Refused, match=why):
            guard.parse_url(bad)


async def test_a_name_that_resolves_to_loopback_is_refused() -> None:
    with pytest.raises(guard.Refused, match="loopback"):
        await guard.target("http://localhost:9/", ())


def test_retries_back_off_with_jitter_up_to_a_cap() -> None:
    settings = WebhookSettings(retry_seconds=10)
    assert outbox.backoff_seconds(settings, 1, lambda: 0.0) == 5
    assert outbox.backoff_seconds(settings, 1, lambda: 1.0) == 10
    assert outbox.backoff_seconds(settings, 4, lambda: 1.0) == 80
    assert outbox.backoff_seconds(settings, 30, lambda: 1.0) == outbox.MAX_BACKOFF_SECONDS


def test_every_event_is_documented() -> None:
    text = DOCS.read_text()
    missing = [name for name in (*events.NAMES, events.PING) if f"`{name}`" not in text]
    assert missing == []


# Receivers --------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A real HTTP server on loopback that records every post and answers as told."""

    port: int = field(default_factory=free_port)
    got: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn, then `status`
    status: int = 200
    behaviour: str = "answer"  # or "slow", "endless", "redirect"
    location: str = ""
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                if receiver.behaviour == "redirect":
                    status = 302
                receiver.got.append(Received(dict(self.headers), body, status))
                try:
                    if receiver.behaviour == "slow":
                        time.sleep(3)
                    self.send_response(status)
                    if receiver.behaviour == "redirect":
                        self.send_header("Location", receiver.location)
                    self.end_headers()
                    # No length and HTTP/1.0: the body runs until the connection closes.
                    for _ in range(2000 if receiver.behaviour == "endless" else 1):
                        self.wfile.write(b"x" * 65536 if receiver.behaviour == "endless" else b"ok")
                except OSError:
                    pass  # the sender hung up, as it should on a slow or endless answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered(self) -> list[dict[str, Any]]:
        """The events it answered 2xx, in arrival order."""
        return [r.event for r in self.got if 200 <= r.status < 300]

    async def wait(self, done: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {[r.event.get('type') for r in self.got]}")
            await asyncio.sleep(0.05)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.stop()


def _server(tmp_path_factory: pytest.TempPathFactory, template: Template, request: pytest.FixtureRequest,
            env: dict[str, str]) -> Iterator[Server]:
    data_dir = template.copy_data_dir(tmp_path_factory.mktemp("hooks") / "data")
    running = Server(data_dir, {**template.copy_database(request), **env})
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def hooks(tmp_path_factory: pytest.TempPathFactory, server_template: Template,
          request: pytest.FixtureRequest) -> Iterator[Server]:
    """One server for the module, allowed to deliver to loopback; tests keep apart by site."""
    yield from _server(tmp_path_factory, server_template, request,
                       {**FAST, "CHATSERVER_WEBHOOK_ALLOW": "127.0.0.0/8"})


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, server_template: Template,
            request: pytest.FixtureRequest) -> Iterator[Server]:
    """A server with no instance allow-list: private addresses need the site's own."""
    yield from _server(tmp_path_factory, server_template, request, FAST)


@dataclass
class Admin:
    server: Server
    site: sites.Site
    cookie: str

    @property
    def base(self) -> str:
        return f"{self.server.http}/api/v1/sites/{self.site.public_key}/webhooks"

    async def call(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(cookies={"chatserver_session": self.cookie}) as http:
            return await http.request(method, self.base + path, **kwargs)

    async def subscribe(self, url: str, names: Any = "*") -> dict[str, Any]:
        made = await self.call("POST", json={"url": url, "events": names})
        assert made.status_code == 201, made.text
        found: dict[str, Any] = made.json()
        return found


async def _admin(server: Server) -> Admin:
    n = next(numbers)
    site = await server.add_site(f"Hooked {n}")
    await server.add_agent(f"admin{n}@example.com", role="admin")
    return Admin(server, site, await login(server, f"admin{n}@example.com"))


async def test_a_delivery_is_signed_with_the_secret_shown_once(
    hooks: Server, receivers: list[Receiver]
) -> None:
    admin = await _admin(hooks)
    receiver = Receiver().start()
    receivers.append(receiver)
    made = await admin.subscribe(receiver.url, ["conversation.created"])
    assert made["events"] == ["conversation.created"] and made["secret"].startswith("whsec_")
    listed = (await admin.call("GET")).json()
    assert listed["webhooks"] == [{k: v for k, v in made.items() if k != "secret"}]
    assert "secret" not in json.dumps(listed)

    sent = await admin.call("POST", f"/{made['id']}/test")
    assert sent.status_code == 202
    await receiver.wait(lambda: len(receiver.got) == 1)
    got = receiver.got[0]
    assert got.event["id"] == sent.json()["event_id"] == got.headers["Chatserver-Event-Id"]
    assert got.event["type"] == "ping" and got.event["site"] == admin.site.public_key
    assert got.headers["Content-Type"] == "application/json"
    signed_at = signing.verify(made["secret"], got.body, got.headers["Chatserver-Signature"])
    assert abs(signed_at - time.time()) < 30
    with pytest.raises(signing.SignatureError):
        signing.verify(made["secret"], got.body + b" ", got.headers["Chatserver-Signature"])


async def test_a_chat_tells_its_events_as_it_happens(hooks: Server, receivers: list[Receiver]) -> None:
    admin = await _admin(hooks)
    receiver = Receiver().start()
    receivers.append(receiver)
    await admin.subscribe(receiver.url)
    n = next(numbers)
    await hooks.add_agent(f"ann{n}@example.com", admin.site, name="Ann")
    ann = await agent(hooks, f"ann{n}@example.com")
    await ann.send(type="presence", status="away")  # so the chat waits to be accepted by hand
    await ann.expect("presence", agent={"id": ann.me, "name": "Ann", "status": "away"})
    guest = await visitor(hooks, admin.site)
    try:
        await guest.send(type="start", client_id="s1", text="zxqv my blender hums")
        chat = str((await guest.expect("ack"))["conversation"])
        await ann.expect("conversation", conversation=Chat(chat, "queued"))
        await ann.send(type="accept", conversation=chat)
        await ann.expect("conversation", conversation=Chat(chat, "assigned"))
        await ann.send(type="message", conversation=chat, client_id="a1", text="Hello, Ann here")
        await ann.expect("ack")
        await ann.send(type="close", conversation=chat)
        await ann.expect("conversation", conversation=Chat(chat, "closed"))
        await guest.send(type="rate", conversation=chat, score="good", comment="quick")
        wanted = ["contact.created", "conversation.created", "message.created", "conversation.assigned",
                  "message.created", "conversation.closed", "rating.given"]
        await receiver.wait(lambda: len(receiver.delivered()) >= len(wanted))
        got = {}
        for event in receiver.delivered():
            got.setdefault(event["type"], []).append(event)
        assert sorted(got) == sorted(set(wanted))
        assert got["conversation.created"][0]["data"]["conversation"]["id"] == chat
        texts = sorted(e["data"]["message"]["text"] for e in got["message.created"])
        assert texts == ["Hello, Ann here", "zxqv my blender hums"]
        authors = {e["data"]["message"]["author"]["kind"] for e in got["message.created"]}
        assert authors == {"visitor", "agent"}
        assigned = got["conversation.assigned"][0]["data"]["conversation"]
        assert assigned["agent"] == {"id": ann.me, "name": "Ann"}
        assert len(got["conversation.closed"]) == 1  # the rating is not a second close
        assert got["rating.given"][0]["data"]["rating"] == {"score": "good", "comment": "quick"}
        assert len({e["id"] for e in receiver.delivered()}) == len(wanted)
    finally:
        await guest.close()
        await ann.close()


async def test_a_receiver_that_is_down_gets_every_event_once_when_back(
    hooks: Server, receivers: list[Receiver]
) -> None:
    admin = await _admin(hooks)
    receiver = Receiver()  # its port is chosen, nothing listens yet
    receivers.append(receiver)
    hook = await admin.subscribe(receiver.url, ["message.created"])
    guest = await visitor(hooks, admin.site)
    try:
        await guest.send(type="start", client_id="s0", text="zxqv my toaster sings")
        chat = str((await guest.expect("ack"))["conversation"])
        for i in range(1, 8):
            await guest.send(type="message", conversation=chat, client_id=f"m{i}", text=f"line {i}")
            await guest.expect("ack", ref=f"m{i}")
        await asyncio.sleep(1.0)  # a few tries find nobody listening
        receiver.start()
        await receiver.wait(lambda: len(receiver.delivered()) >= 8)
        await asyncio.sleep(1.0)  # nothing more comes
    finally:
        await guest.close()
    delivered = receiver.delivered()
    assert len(delivered) == 8 and len({e["id"] for e in delivered}) == 8
    assert sorted(e["data"]["message"]["text"] for e in delivered) == sorted(
        ["zxqv my toaster sings", *(f"line {i}" for i in range(1, 8))])
    for got in receiver.got:
        signing.verify(hook["secret"], got.body, got.headers["Chatserver-Signature"])
    assert (await admin.call("GET", "/dead")).json() == {"dead": []}


async def test_a_failed_delivery_is_retried_with_the_same_event_id(
    hooks: Server, receivers: list[Receiver]
) -> None:
    admin = await _admin(hooks)
    receiver = Receiver(statuses=[500, 503]).start()
    receivers.append(receiver)
    hook = await admin.subscribe(receiver.url)
    await admin.call("POST", f"/{hook['id']}/test")
    await receiver.wait(lambda: len(receiver.delivered()) == 1)
    assert [r.status for r in receiver.got] == [500, 503, 200]
    assert len({r.event["id"] for r in receiver.got}) == 1


async def test_dead_letters_are_listed_and_replayed(hooks: Server, receivers: list[Receiver]) -> None:
    admin = await _admin(hooks)
    receiver = Receiver(status=500).start()
    receivers.append(receiver)
    hook = await admin.subscribe(receiver.url)
    event_id = (await admin.call("POST", f"/{hook['id']}/test")).json()["event_id"]

    async def dead() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await admin.call("GET", "/dead")).json()["dead"]
        return found

    deadline = time.monotonic() + WAIT
    while not await dead():
        assert time.monotonic() < deadline, "no dead letter"
        await asyncio.sleep(0.2)
    [letter] = await dead()
    assert letter["event_id"] == event_id and letter["attempts"] == 4 and letter["type"] == "ping"
    assert letter["url"] == receiver.url and "answered 500" in letter["error"]
    assert len(receiver.got) == 4
    # Another site's admin sees none of it, and replays none of it.
    other = await _admin(hooks)
    assert (await other.call("GET", "/dead")).json() == {"dead": []}
    assert (await other.call("POST", "/dead/replay", json={})).json() == {"replayed": 0}

    receiver.status = 200
    replayed = await admin.call("POST", "/dead/replay", json={"ids": [letter["id"]]})
    assert replayed.json() == {"replayed": 1}
    await receiver.wait(lambda: len(receiver.delivered()) == 1)
    assert receiver.delivered()[0]["id"] == event_id
    assert await dead() == []


async def test_a_redirect_is_not_followed(hooks: Server, receivers: list[Receiver]) -> None:
    admin = await _admin(hooks)
    inside = Receiver().start()
    bouncer = Receiver(behaviour="redirect", location=inside.url).start()
    receivers.extend([inside, bouncer])
    hook = await admin.subscribe(bouncer.url)
    await admin.call("POST", f"/{hook['id']}/test")
    await bouncer.wait(lambda: len(bouncer.got) == 4)
    await asyncio.sleep(0.5)
    assert inside.got == []
    [letter] = (await admin.call("GET", "/dead")).json()["dead"]
    assert "redirects are not followed" in letter["error"]


async def test_a_slow_receiver_is_cut_off_and_an_endless_answer_does_not_hang(
    hooks: Server, receivers: list[Receiver]
) -> None:
    admin = await _admin(hooks)
    slow = Receiver(behaviour="slow").start()
    endless = Receiver(behaviour="endless").start()
    receivers.extend([slow, endless])
    slow_hook = await admin.subscribe(slow.url)
    endless_hook = await admin.subscribe(endless.url)
    started = time.monotonic()
    await admin.call("POST", f"/{slow_hook['id']}/test")
    await admin.call("POST", f"/{endless_hook['id']}/test")
    # The endless answer's status was 200: delivered, its body read only so far, never again.
    await endless.wait(lambda: len(endless.got) == 1)
    await asyncio.sleep(1.5)
    assert len(endless.got) == 1
    # The slow one is cut off at the 1 s timeout each time and ends as a dead letter.
    deadline = time.monotonic() + WAIT
    while not (letters := (await admin.call("GET", "/dead")).json()["dead"]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert [d["url"] for d in letters] == [slow.url]
    assert "no answer within 1 s" in letters[0]["error"]
    assert time.monotonic() - started < 4 * 3  # four tries of about 1 s, not four of 3 s


async def test_bad_requests_are_refused_and_change_nothing(hooks: Server, receivers: list[Receiver]) -> None:
    admin = await _admin(hooks)
    receiver = Receiver().start()
    receivers.append(receiver)
    for body, code, words in (
        ({"url": receiver.url, "events": ["chat.exploded"]}, "invalid_message", "unknown event"),
        ({"url": "ftp://x.example/"}, "invalid_url", "https://"),
        ({"url": 7}, "invalid_message", "url"),
        ({"url": "http://10.0.0.1/hook"}, "invalid_url", "private"),
    ):
        refused = await admin.call("POST", json=body)
        assert refused.status_code == 400, body
        assert refused.json()["code"] == code and words in refused.json()["message"]
    assert (await admin.call("GET")).json()["webhooks"] == []
    hook = await admin.subscribe(receiver.url)
    assert (await admin.call("PATCH", f"/{hook['id']}", json={"enabled": "yes"})).status_code == 400
    foreign = await admin.call("POST", json={"url": receiver.url}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    # An agent who is not an admin, and nobody signed in, get nothing.
    n = next(numbers)
    await hooks.add_agent(f"bob{n}@example.com", admin.site)
    bob = await login(hooks, f"bob{n}@example.com")
    async with httpx.AsyncClient(cookies={"chatserver_session": bob}) as http:
        assert (await http.get(admin.base)).status_code == 403
    async with httpx.AsyncClient() as http:
        assert (await http.get(admin.base)).status_code == 401
    other = await _admin(hooks)
    assert (await other.call("DELETE", f"/{hook['id']}")).status_code == 404  # not across sites
    # Removed, it sends no more.
    assert (await admin.call("DELETE", f"/{hook['id']}")).status_code == 204
    assert (await admin.call("GET")).json()["webhooks"] == []


async def test_the_backlog_is_on_metrics(hooks: Server) -> None:
    async with httpx.AsyncClient() as http:
        page = (await http.get(f"{hooks.http}/metrics")).text
    assert 'chatserver_webhook_backlog{state="pending"}' in page
    assert "chatserver_webhook_oldest_pending_seconds" in page


async def test_private_addresses_are_refused_without_an_allow_list(
    guarded: Server, receivers: list[Receiver]
) -> None:
    admin = await _admin(guarded)
    receiver = Receiver().start()
    receivers.append(receiver)
    for url in (receiver.url, "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
                "http://[::1]:9/", "http://localhost:9/"):
        refused = await admin.call("POST", json={"url": url})
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_url", url
        assert "allow-list" in refused.json()["message"]
    assert (await admin.call("GET")).json()["webhooks"] == []
    bad = await admin.call("PUT", "/allow", json={"networks": ["127.0.0.1/40"]})
    assert bad.status_code == 400 and "not a network" in bad.json()["message"]
    allowed = await admin.call("PUT", "/allow", json={"networks": ["127.0.0.1/32"]})
    assert allowed.json() == {"allow": ["127.0.0.1/32"]}
    hook = await admin.subscribe(receiver.url)
    await admin.call("POST", f"/{hook['id']}/test")
    await receiver.wait(lambda: len(receiver.delivered()) == 1)
    # Taken off the list, the address is refused at delivery time too, and nothing is sent.
    await admin.call("PUT", "/allow", json={"networks": []})
    await admin.call("POST", f"/{hook['id']}/test")
    deadline = time.monotonic() + WAIT
    while not (letters := (await admin.call("GET", "/dead")).json()["dead"]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)
    assert "refused: 127.0.0.1 is a loopback address" in letters[0]["error"]
    assert len(receiver.got) == 1


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no form on the page"
    return found.group(1)


async def test_the_console_page_adds_tests_and_replays(hooks: Server, receivers: list[Receiver]) -> None:
    admin = await _admin(hooks)
    receiver = Receiver(status=500).start()
    receivers.append(receiver)
    path = f"/console/admin/sites/{admin.site.id}/webhooks"
    async with httpx.AsyncClient(base_url=hooks.http, cookies={"chatserver_session": admin.cookie}) as http:
        site_page = await http.get(f"/console/admin/sites/{admin.site.id}")
        assert f'href="{path}"' in site_page.text
        page = await http.get(path)
        assert "No webhooks yet." in page.text
        refused = await http.post(path, data={"csrf": _csrf(page.text), "action": "add",
                                              "url": "http://10.0.0.1/x", "event_ping": "on",
                                              "event_message.created": "on"})
        assert refused.status_code == 400 and "10.0.0.1 is a private address" in refused.text
        assert "No webhooks yet." in refused.text
        added = await http.post(path, data={"csrf": _csrf(page.text), "action": "add", "url": receiver.url,
                                            "event_message.created": "on"})
        secret = re.search(r'id="secret" class="code" readonly value="([^"]+)"', added.text)
        assert secret and secret.group(1).startswith("whsec_")
        listed = await http.get(path)
        assert receiver.url in listed.text and secret.group(1) not in listed.text
        hook_id = (await admin.call("GET")).json()["webhooks"][0]["id"]
        assert (await admin.call("GET")).json()["webhooks"][0]["events"] == ["message.created"]
        await http.post(path, data={"csrf": _csrf(listed.text), "action": "test", "webhook": hook_id})
        deadline = time.monotonic() + WAIT
        while "answered 500" not in (shown := (await http.get(path)).text):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.3)
        assert "Dead letters" in shown and "ping" in shown
        receiver.status = 200
        await http.post(path, data={"csrf": _csrf(shown), "action": "replay"})
        await receiver.wait(lambda: len(receiver.delivered()) == 1)
        last = receiver.got[-1]
        signing.verify(secret.group(1), last.body, last.headers["Chatserver-Signature"])
        gone = await http.post(path, data={"csrf": _csrf(shown), "action": "delete", "webhook": hook_id},
                               follow_redirects=True)
        assert "No webhooks yet." in gone.text


async def test_tickets_tell_when_they_open_and_change(hooks: Server, receivers: list[Receiver]) -> None:
    admin = await _admin(hooks)
    receiver = Receiver().start()
    receivers.append(receiver)
    await admin.subscribe(receiver.url, ["ticket.created", "ticket.updated"])
    customer = await visitor(hooks, admin.site)
    try:
        await customer.send(type="leave_email", email="kim@example.com", text="Call me", client_id="f1")
        ticket = (await customer.expect("ticket"))["ticket"]["id"]
        await customer.send(type="leave_email", email="kim@example.com", text="Call me", client_id="f1")
        await customer.expect("ticket")  # the resend finds the first ticket: no second event
    finally:
        await customer.close()
    async with httpx.AsyncClient(cookies={"chatserver_session": admin.cookie}) as http:
        changed = await http.patch(f"{hooks.http}/api/v1/tickets/{ticket}", json={"priority": "high"})
        assert changed.status_code == 200, changed.text
    await receiver.wait(lambda: len(receiver.delivered()) == 2)
    await asyncio.sleep(0.5)
    created, updated = sorted(receiver.delivered(), key=lambda e: e["created_at"])
    assert created["type"] == "ticket.created" and created["data"]["ticket"]["id"] == ticket
    assert created["data"]["ticket"]["contact"]["email"] == "kim@example.com"
    assert updated["type"] == "ticket.updated" and updated["data"]["ticket"]["priority"] == "high"
    assert len(receiver.got) == 2


async def test_facts_become_rows_only_for_subscriptions_that_want_them(store_url: str) -> None:
    store = Store(store_url)
    await store.migrate()
    try:
        site = await sites.create(store, "Rows", [])
        quiet = await sites.create(store, "Quiet", [])
        wakes: list[int] = []
        record = outbox.Recorder(store, lambda: wakes.append(1))
        await subscriptions.create(store, site.id, "https://a.example/", events.NAMES, "s1")
        await subscriptions.create(store, site.id, "https://b.example/", ["ticket.created"], "s2")
        paused = await subscriptions.create(store, site.id, "https://c.example/", events.NAMES, "s3")
        await subscriptions.set_enabled(store, site.id, paused.id, False)
        await record([events.contact(events.CONTACT_CREATED, site.id, "c1"),
                      events.contact(events.CONTACT_CREATED, quiet.id, "c2")])
        assert wakes == [1]
        assert await outbox.due(store) != []
        [row] = await outbox.claim(store, await outbox.due(store), 60_000)
        assert row.url == "https://a.example/" and row.secret == "s1" and row.attempts == 1
        body = json.loads(row.body)
        assert body["type"] == "contact.created" and body["site"] == site.public_key
        assert body["data"] == {"contact": {"id": "c1"}} and body["id"] == row.event_id
        assert await outbox.claim(store, [row.id], 60_000) == []  # held: nobody else takes it
        await record([events.contact(events.CONTACT_CREATED, quiet.id, "c3")])
        assert wakes == [1]  # nobody listens to the quiet site: nothing written, nobody woken
    finally:
        await store.close()


def test_the_command_line_adds_lists_and_removes(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def add_site() -> sites.Site:
        store = Store(f"sqlite+aiosqlite:///{data_dir / 'chatserver.db'}")
        try:
            return await sites.create(store, "Cli", [])
        finally:
            await store.close()

    site = asyncio.run(add_site())
    where = ["--data-dir", str(data_dir)]
    key = site.public_key
    assert cli.main(["webhooks", "add", "--site", key, "--url", "http://127.0.0.1:9/", *where]) == 2
    assert "loopback" in capsys.readouterr().err
    assert cli.main(["webhooks", "add", "--site", site.public_key, "--url", "https://93.184.216.34/in",
                     "--event", "message.created", *where]) == 0
    added = capsys.readouterr().out
    assert "secret (shown once, keep it): whsec_" in added
    hook_id = added.split()[2]
    assert cli.main(["webhooks", "list", "--site", site.public_key, "--json", *where]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["id"] == hook_id and listed["events"] == ["message.created"] and "secret" not in listed
    assert cli.main(["webhooks", "dead", *where]) == 0
    assert "0 dead letters" in capsys.readouterr().out
    assert cli.main(["webhooks", "replay", *where]) == 0
    assert "0 dead letters will be tried again" in capsys.readouterr().out
    assert cli.main(["webhooks", "remove", "--site", site.public_key, hook_id, *where]) == 0
    assert cli.main(["webhooks", "remove", "--site", site.public_key, hook_id, *where]) == 2
    assert "has no webhook" in capsys.readouterr().err


async def test_a_delivery_to_an_ipv6_loopback_keeps_its_host_header() -> None:
    """Straight through delivery.post, with ::1 allowed: the Host header is bracketed."""
    got: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.headers["Host"])
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    class Server6(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    try:
        server6 = Server6(("::1", 0), Handler)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    threading.Thread(target=server6.serve_forever, daemon=True).start()
    try:
        port = server6.server_address[1]
        async with delivery.new_client(2) as client:
            status = await delivery.post(client, f"http://[::1]:{port}/in", "s", b"{}", {},
                                         guard.parse_networks(["::1/128"]), 2)
        assert status == 204 and got == [f"[::1]:{port}"]
    finally:
        server6.shutdown()
        server6.server_close()
