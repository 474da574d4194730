"""Relay bench: visitor/agent pairs exchanging messages through the real server.

Beside it, in the same run, the same clients drive a bare `websockets` relay that stores
nothing; the ratio of the two is the cost of everything chatserver adds (storage first).

    python bench/relay.py [--pairs 50] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-123"
TEXT = "x" * 100


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"no answer from {url}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


Pair = tuple[Callable[[str], Awaitable[None]], Callable[[], Awaitable[str]],
             Callable[[str], Awaitable[None]], Callable[[], Awaitable[str]]]


async def exchange(pairs: list[Pair], rounds: int) -> dict[str, float]:
    """Ping-pong visitor -> agent -> visitor on every pair at once; time each hop."""
    latencies: list[float] = []

    async def run(pair: Pair) -> None:
        send_v, recv_v, send_a, recv_a = pair
        for n in range(rounds):
            sent = time.perf_counter()
            await send_v(f"v{n}")
            await recv_a()
            latencies.append(time.perf_counter() - sent)
            sent = time.perf_counter()
            await send_a(f"a{n}")
            await recv_v()
            latencies.append(time.perf_counter() - sent)

    start = time.perf_counter()
    await asyncio.gather(*(run(p) for p in pairs))
    elapsed = time.perf_counter() - start
    return {
        "messages_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def chatserver_pairs(base: str, site_key: str, count: int) -> tuple[list[Pair], list[ClientConnection]]:
    ws_base = base.replace("http", "ws", 1)
    async with httpx.AsyncClient() as http:
        login = await http.post(f"{base}/api/v1/login",
                                json={"email": "bench@example.com", "password": PASSWORD})
        cookie = login.cookies["chatserver_session"]
        tokens = [
            (await http.post(f"{base}/api/v1/sites/{site_key}/visitors", json={},
                             headers={"Origin": base})).json()["token"]
            for _ in range(count)
        ]
    sockets: list[ClientConnection] = []
    pairs: list[Pair] = []
    for index, token in enumerate(tokens):
        visitor = await connect(f"{ws_base}/ws/visitor?site={site_key}", origin=base)  # type: ignore[arg-type]
        agent = await connect(f"{ws_base}/ws/agent",
                              additional_headers={"Cookie": f"chatserver_session={cookie}"})
        sockets += [visitor, agent]
        await visitor.send(json.dumps({"type": "hello", "token": token}))
        await agent.send(json.dumps({"type": "hello"}))
        await _until(visitor, "welcome")
        await _until(agent, "welcome")
        await visitor.send(json.dumps({"type": "start", "client_id": f"s{index}", "text": "hi"}))
        conversation = (await _until(visitor, "ack"))["conversation"]
        await agent.send(json.dumps({"type": "sync", "conversation": conversation, "after": 0}))
        await _until(agent, "synced")
        pairs.append(_chat_pair(visitor, agent, conversation))
    return pairs, sockets


async def _until(ws: ClientConnection, kind: str, author: str | None = None) -> dict[str, object]:
    while True:
        frame: dict[str, object] = json.loads(await ws.recv())
        if frame.get("type") == kind and (
            author is None or frame["author"]["kind"] == author  # type: ignore[index]
        ):
            return frame


def _chat_pair(visitor: ClientConnection, agent: ClientConnection, conversation: str) -> Pair:
    def sender(ws: ClientConnection) -> Callable[[str], Awaitable[None]]:
        async def send(client_id: str) -> None:
            await ws.send(json.dumps({"type": "message", "conversation": conversation,
                                      "client_id": client_id, "text": TEXT}))
        return send

    async def recv_visitor() -> str:
        return str((await _until(visitor, "message", "agent"))["text"])

    async def recv_agent() -> str:
        return str((await _until(agent, "message", "visitor"))["text"])

    return sender(visitor), recv_visitor, sender(agent), recv_agent


async def bare_pairs(url: str, count: int) -> tuple[list[Pair], list[ClientConnection]]:
    sockets: list[ClientConnection] = []
    pairs: list[Pair] = []
    for index in range(count):
        a = await connect(f"{url}/{index}", compression=None)
        b = await connect(f"{url}/{index}", compression=None)
        sockets += [a, b]

        def sender(ws: ClientConnection) -> Callable[[str], Awaitable[None]]:
            async def send(client_id: str) -> None:
                await ws.send(json.dumps({"type": "message", "client_id": client_id, "text": TEXT}))
            return send

        def receiver(ws: ClientConnection) -> Callable[[], Awaitable[str]]:
            async def recv() -> str:
                return str(json.loads(await ws.recv())["text"])
            return recv

        pairs.append((sender(a), receiver(a), sender(b), receiver(b)))
    return pairs, sockets


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def start_chatserver(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "CHATSERVER_LOG_LEVEL": "warning"}
    subprocess.run([sys.executable, "-m", "chatserver", "sites", "add", "--name", "Bench",
                    "--data-dir", str(data_dir)], check=True, capture_output=True, env=env)
    subprocess.run([sys.executable, "-m", "chatserver", "agents", "add", "--email",
                    "bench@example.com", "--name", "Bench", "--role", "admin", "--password",
                    PASSWORD, "--data-dir", str(data_dir)], check=True, capture_output=True, env=env)
    listed = subprocess.run([sys.executable, "-m", "chatserver", "sites", "list", "--json",
                             "--data-dir", str(data_dir)], check=True, capture_output=True, env=env)
    key = json.loads(listed.stdout)[0]["key"]
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chatserver", "serve", "--port", str(port), "--data-dir",
         str(data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", process)
    return process, base, key


def start_bare() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(Path(__file__).parent / "bare_relay.py"),
                                str(port)])
    for _ in range(400):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"ws://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bare relay did not start")


async def measure(pairs: int, rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        process, base, key = start_chatserver(Path(tmp))
        try:
            # An away agent gets no automatic assignments; the bench syncs each chat itself.
            made, sockets = await chatserver_pairs(base, key, pairs)
            results["chatserver"] = await exchange(made, rounds)
            await close_all(sockets)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
    bare, url = start_bare()
    try:
        made, sockets = await bare_pairs(url, pairs)
        results["bare websockets"] = await exchange(made, rounds)
        await close_all(sockets)
    finally:
        bare.terminate()
        bare.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    results = asyncio.run(measure(args.pairs, args.rounds))
    ours, base = results["chatserver"], results["bare websockets"]
    print(f"relay: {args.pairs} pairs x {args.rounds} round trips, 100-byte messages, loopback")
    print(f"{'figure':<16}{'chatserver':>12}{'bare relay':>12}{'ratio':>8}")
    for key in ("messages_per_s", "p50_ms", "p99_ms"):
        print(f"{key:<16}{ours[key]:>12.1f}{base[key]:>12.1f}{ours[key] / base[key]:>8.2f}")


if __name__ == "__main__":
    main()
