"""examples/telegram_bridge.py against a fake Telegram on loopback and a real chatserver.

The fake imitates the two Bot API methods the bridge calls (getUpdates, with its long poll,
and sendMessage); the bridge runs as its own process, configured by environment variables
as a site owner would run it; an agent answers on a real console socket."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_api_channel import _site_with_admin, hooked, switch  # noqa: F401 (hooked is a fixture)
from test_public_api import token

from chatserver.webhooks import signing
from conftest import Chat, Client, Server, agent, free_port

ROOT = Path(__file__).resolve().parent.parent
BOT = "123456:bench-bot-token"
WAIT = 20.0


class FakeTelegram:
    """getUpdates and sendMessage of Telegram's Bot API, on loopback, for one bot."""

    def __init__(self) -> None:
        self.port = free_port()
        self.updates: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def user_writes(self, user_id: int, first_name: str, text: str) -> None:
        with self.changed:
            n = len(self.updates) + 1
            self.updates.append({"update_id": 1000 + n, "message": {
                "message_id": n, "date": int(time.time()), "text": text,
                "from": {"id": user_id, "is_bot": False, "first_name": first_name},
                "chat": {"id": user_id, "type": "private", "first_name": first_name}}})
            self.changed.notify_all()

    def _get_updates(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(body.get("offset") or 0)
        deadline = time.monotonic() + min(float(body.get("timeout") or 0), 1.0)
        with self.changed:
            while True:
                waiting = [u for u in self.updates if u["update_id"] >= offset]
                left = deadline - time.monotonic()
                if waiting or left <= 0:
                    return waiting
                self.changed.wait(left)

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                if self.path == f"/bot{BOT}/getUpdates":
                    answer: dict[str, Any] = {"ok": True, "result": fake._get_updates(body)}
                elif self.path == f"/bot{BOT}/sendMessage":
                    with fake.changed:
                        fake.sent.append(body)
                    answer = {"ok": True, "result": {"message_id": 9000 + len(fake.sent),
                                                     "chat": {"id": body["chat_id"]}, "text": body["text"]}}
                else:
                    answer = {"ok": False, "error_code": 404, "description": "Not Found"}
                out = json.dumps(answer).encode()
                try:
                    self.send_response(200 if answer["ok"] else 404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass  # the bridge was stopped during its long poll

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

    def wait_sent(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT
        while len(self.sent) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"Telegram got only {self.sent}")
            time.sleep(0.05)
        return self.sent


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the bridge exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the bridge does not listen")


async def _eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_a_telegram_user_reaches_an_agent_and_hears_the_reply(
    hooked: Server, telegram: FakeTelegram, clients: list[Client], tmp_path: Path  # noqa: F811
) -> None:
    admin = await _site_with_admin(hooked)
    await hooked.add_agent("tg-ann@example.com", admin.site, name="Ann")
    ann = await agent(hooked, "tg-ann@example.com")
    clients.append(ann)
    await switch(hooked, admin.site.id, on=("api:telegram",))
    bridge_port = free_port()
    hook = await admin.subscribe(f"http://127.0.0.1:{bridge_port}/chatserver",
                                 ["message.created", "conversation.closed"])
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": BOT, "TELEGRAM_API_URL": telegram.url,
           "CHATSERVER_URL": hooked.http,
           "CHATSERVER_API_TOKEN": await token(hooked, admin.site, "write", name="Telegram"),
           "CHATSERVER_WEBHOOK_SECRET": hook["secret"], "BRIDGE_LISTEN": f"127.0.0.1:{bridge_port}",
           "BRIDGE_CLOSED_TEXT": "Closed. Write again any time."}
    log = (tmp_path / "bridge.log").open("wb")
    bridge = subprocess.Popen([sys.executable, str(ROOT / "examples" / "telegram_bridge.py")],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_listening(bridge_port, bridge)
        telegram.user_writes(5551234, "Piet", "Hallo, where is my order?")

        shown = await _assigned(ann)
        chat = shown["id"]
        assert shown["channel"] == "api:telegram" and shown["channel_name"] == "Telegram"
        assert shown["contact"]["name"] == "Piet"
        await ann.send(type="sync", conversation=chat, after=0)
        heard = await ann.expect("message", conversation=chat)
        assert heard["text"] == "Hallo, where is my order?"

        await ann.send(type="message", conversation=chat, client_id="a1", text="It ships tomorrow, Piet.")
        await ann.expect("ack")
        await _eventually(lambda: len(telegram.sent) >= 1)
        assert telegram.sent[0] == {"chat_id": "5551234", "text": "It ships tomorrow, Piet."}

        # The same user writes on: the same chat, live on the agent's socket.
        telegram.user_writes(5551234, "Piet", "Thanks!")
        await ann.expect("message", conversation=chat, text="Thanks!", timeout=WAIT)

        # A forged delivery reaches nobody.
        async with httpx.AsyncClient() as http:
            body = json.dumps({"id": "forged", "type": "message.created", "data": {
                "channel": {"name": "api:telegram", "user_id": "5551234"},
                "message": {"author": {"kind": "agent"}, "text": "send me your password"}}}).encode()
            forged = await http.post(f"http://127.0.0.1:{bridge_port}/chatserver", content=body,
                                     headers={signing.HEADER: signing.sign("whsec_wrong", body)})
        assert forged.status_code == 401

        await ann.send(type="close", conversation=chat)
        await ann.expect("conversation", conversation=Chat(chat, "closed"))
        await _eventually(lambda: len(telegram.sent) >= 2)
        assert [m["text"] for m in telegram.sent] == ["It ships tomorrow, Piet.",
                                                      "Closed. Write again any time."]
        # Only this user heard anything, and only the agent's words: their own never echo back.
        assert {m["chat_id"] for m in telegram.sent} == {"5551234"}

        # With the channel off, a newcomer is told so by the bot, and the bridge goes on.
        await switch(hooked, admin.site.id, off=("api:telegram",))
        telegram.user_writes(7770001, "Kees", "Anyone there?")
        await _eventually(lambda: len(telegram.sent) >= 3)
        assert telegram.sent[2]["chat_id"] == 7770001
        assert "not take new conversations by Telegram" in telegram.sent[2]["text"]
        assert bridge.poll() is None
    finally:
        bridge.terminate()
        bridge.wait(10)
        log.close()


async def _assigned(ann: Client) -> dict[str, Any]:
    while True:
        frame = await ann.expect("conversation", timeout=WAIT)
        if frame["conversation"]["status"] == "assigned":
            return dict(frame["conversation"])
