"""Page views at the peak bench's rate: HTTP/1.1 keep-alive, as browsers hold them.

Thousands of visitors viewing pages put hundreds of requests a second in flight. httpx's
pool scans every waiting request for every free connection, so with that many waiting the
bench spent its CPU there and measured itself (a run stalled at 90% of the bench's core with
the server at 18%). Here a semaphore queues what waits and each request takes an idle
connection or opens one: what the widget sends, and nothing the server does not answer with
a Content-Length.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class Refused(OSError):
    """The server answered with a status other than 200."""


class Pages:
    """Keep-alive connections to one server, at most `size` in use at once."""

    def __init__(self, base: str, size: int = 64) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.origin = base
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(size)

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request with the page's Origin; return the JSON answer, or raise Refused."""
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Origin: {self.origin}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        async with self.slots:
            # A kept connection the server has just timed out fails at once: one more try
            # on a new connection.
            for reused in (True, False):
                fresh = not (reused and self.idle)
                reader, writer = (await asyncio.open_connection(self.host, self.port) if fresh
                                  else self.idle.pop())
                try:
                    writer.write(head + data)
                    status, keep, payload = await _answer(reader)
                except (OSError, asyncio.IncompleteReadError):
                    writer.close()
                    if fresh:
                        raise
                    continue
                if keep:
                    self.idle.append((reader, writer))
                else:
                    writer.close()
                if status != 200:
                    raise Refused(f"{method} {path}: HTTP {status}")
                return json.loads(payload) if payload else None
        raise AssertionError("unreachable")

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    payload = await reader.readexactly(int(fields.get("content-length", "0")))
    return status, fields.get("connection", "").lower() != "close", payload
