"""Helpers for browser tests: Debian's Chromium under Playwright, and a host page on its own origin."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

def needs_browser() -> None:
    """Skip the calling test when Playwright or Chromium is missing; in CI, fail instead."""
    missing = []
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not shutil.which(CHROMIUM):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


class HostSite:
    """Serves examples/ on its own loopback origin, with the snippet pointed at a chat server."""

    def __init__(self, chat: Server) -> None:
        self.chat = chat
        self.site_key = "YOUR_SITE_KEY"
        self.extra_head = ""
        self.port = free_port()
        host = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                path = EXAMPLES / self.path.split("?")[0].lstrip("/")
                if path.suffix != ".html" or not path.is_file():
                    self.send_error(404)
                    return
                page = (
                    path.read_text()
                    .replace("http://127.0.0.1:8000", host.chat.http)
                    .replace("YOUR_SITE_KEY", host.site_key)
                    .replace("</head>", host.extra_head + "</head>")
                    .encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, page: str = "host-page.html") -> str:
        return f"{self.origin}/{page}"

    @contextlib.contextmanager
    def running(self) -> Iterator[HostSite]:
        self.thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[object]:
    """Launch Debian's Chromium headless; yields a Playwright Browser."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()



@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium for one test; fails in CI and skips elsewhere when it is missing."""
    needs_browser()
    async with chromium() as launched:
        yield launched


def expect(locator: Any) -> Any:
    """Playwright's expect, imported late so collecting tests needs no Playwright."""
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(locator)
