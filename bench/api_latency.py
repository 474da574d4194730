"""API channel: a customer's message over the public API to the agent's socket, beside the
same message over the widget's socket, in one run.

One agent holds two chats of one site: a widget chat and an API-channel chat (api:bench).
Messages take turns (one at a time, so none waits on another): the widget's goes as a
`message` frame on the visitor's socket, the API channel's as
`POST /api/v2/channels/bench/messages` on a kept-alive HTTP connection, and, to tell the
API's door from the channel's own work, the same text as an integration's message with
`POST /api/v2/conversations/{id}/messages`. Each is timed from just before it is sent to
its arrival on the agent's socket. What the channel adds is the HTTP request, the token,
and finding the platform user's contact and open conversation.

    python -m bench api_latency [--smoke]
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    PASSWORD,
    Mode,
    Prepared,
    Row,
    median,
    percentile,
    prepare,
    run_async,
    start_chatserver,
    stop,
)
from chatserver import site_settings, sites
from chatserver.public_api import limits, tokens
from chatserver.store import Store

CHANNEL = "api:bench"
# A token makes at most limits.CALLS_PER_MINUTE calls a minute; the run spreads its posts
# over tokens of the same integration so that the limit never shapes the figure.
CALLS_PER_TOKEN = limits.CALLS_PER_MINUTE // 4


async def _tokens(ready: Prepared, count: int) -> list[str]:
    store = Store(f"sqlite+aiosqlite:///{ready.data_dir.resolve() / 'chatserver.db'}")
    try:
        site = await sites.by_key(store, ready.site_keys[0])
        assert site is not None
        await site_settings.set_channels(store, site.id, [CHANNEL])
        return [(await tokens.create(store, site.id, "Bench", ["write"]))[1] for _ in range(count)]
    finally:
        await store.close()


async def _until(ws: ClientConnection, kind: str, text: str | None = None) -> dict[str, object]:
    while True:
        frame: dict[str, object] = json.loads(await ws.recv())
        if frame.get("type") == kind and (text is None or frame.get("text") == text):
            return frame


async def _measure(base: str, ready: Prepared, secrets: list[str], samples: int) -> dict[str, list[float]]:
    ws_base = base.replace("http", "ws", 1)
    async with httpx.AsyncClient(base_url=base) as http:
        login = await http.post("/api/v1/login", json={"email": ready.agent_emails[0], "password": PASSWORD})
        login.raise_for_status()
        agent = await connect(f"{ws_base}/ws/agent", max_queue=None, additional_headers={
            "Cookie": f"chatserver_session={login.cookies['chatserver_session']}"})
        await agent.send(json.dumps({"type": "hello"}))
        await _until(agent, "welcome")
        visitor = await connect(f"{ws_base}/ws/visitor?site={ready.site_keys[0]}", origin=base,  # type: ignore[arg-type]
                                max_queue=None)
        await visitor.send(json.dumps({"type": "hello", "token": ready.tokens[0][0]}))
        await _until(visitor, "welcome")
        # Words no help article matches: routing gives the chat to the one agent.
        await visitor.send(json.dumps({"type": "start", "client_id": "s", "text": "qqzx wvvk"}))
        widget_chat = str((await _until(visitor, "ack"))["conversation"])
        first = await http.post("/api/v2/channels/bench/messages", headers={
            "Authorization": f"Bearer {secrets[0]}"}, json={
            "user": {"id": "bench-user"}, "text": "qqzx wvvk", "client_id": "first"})
        first.raise_for_status()
        api_chat = first.json()["conversation"]["id"]
        for chat in (widget_chat, api_chat):
            await agent.send(json.dumps({"type": "sync", "conversation": chat, "after": 0}))
            await _until(agent, "synced")
        times: dict[str, list[float]] = {"widget": [], "api": [], "door": []}
        try:
            for n in range(samples):
                text = f"m{n:06d}".ljust(100, "x")
                began = time.perf_counter()
                await visitor.send(json.dumps({"type": "message", "conversation": widget_chat,
                                               "client_id": f"w{n}", "text": text}))
                await _until(agent, "message", text)
                times["widget"].append(time.perf_counter() - began)
                began = time.perf_counter()
                posted = asyncio.create_task(http.post(
                    "/api/v2/channels/bench/messages",
                    headers={"Authorization": f"Bearer {secrets[n // CALLS_PER_TOKEN]}"},
                    json={"user": {"id": "bench-user"}, "text": text, "client_id": f"a{n}"}))
                await _until(agent, "message", text)
                times["api"].append(time.perf_counter() - began)
                (await posted).raise_for_status()
                began = time.perf_counter()
                posted = asyncio.create_task(http.post(
                    f"/api/v2/conversations/{api_chat}/messages",
                    headers={"Authorization": f"Bearer {secrets[n // CALLS_PER_TOKEN]}"},
                    json={"text": text + "d"}))
                await _until(agent, "message", text + "d")
                times["door"].append(time.perf_counter() - began)
                (await posted).raise_for_status()
        finally:
            await visitor.close()
            await agent.close()
    return times


def run(mode: Mode) -> list[Row]:
    samples: int = mode.pick(600, 20)
    print(f"api_latency: {samples} messages each over the widget socket and the API, alternating",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ready = prepare(Path(tmp), 1, 1)
        secrets = asyncio.run(_tokens(ready, -(-samples // CALLS_PER_TOKEN)))
        process, base = start_chatserver(Path(tmp))
        try:
            times: dict[str, list[float]] = run_async(lambda: _measure(base, ready, secrets, samples))
        finally:
            stop(process)
    api, widget, door = times["api"], times["widget"], times["door"]
    return [
        Row("api_latency", "API message to agent socket, p50", median(api) * 1000, median(widget) * 1000,
            "ms", note="baseline: the same message over the widget's socket"),
        Row("api_latency", "API message to agent socket, p99", percentile(api, 0.99) * 1000,
            percentile(widget, 0.99) * 1000, "ms"),
        Row("api_latency", "added by the API, p50", (median(api) - median(widget)) * 1000, None, "ms",
            "ours<=10"),
        Row("api_latency", "of which the API's door: any API message to agent socket, p50",
            median(door) * 1000, median(widget) * 1000, "ms",
            note="POST /conversations/{id}/messages: token, site, body, one append; no contact lookup"),
    ]
