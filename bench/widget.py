"""Widget: what the snippet costs a host page, in bytes and in main-thread time.

Bytes are what the server sends gzipped: the loader (/widget.js), everything the page loads
from the chat server before the launcher is clicked, and everything after (the first open).
Time comes from a host page (on its own origin) loaded in headless Chromium with the CPU
slowed 4x (a mid-range phone, as Lighthouse does), with and without the snippet, in
alternating rounds: added total blocking time (long tasks, each past 50 ms) and added time to
the load event, as medians.

    python -m bench widget [--smoke]
"""

from __future__ import annotations

import http.server
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

from bench.common import Mode, Row, free_port, median, prepare, run_async, start_chatserver, stop

CHROMIUM = "/usr/bin/chromium"
# The launch arguments of tests/browser.py: headless, no sandbox (containers), no extras.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
CPU_SLOWDOWN = 4
# After the load event the widget may still run (it builds its launcher); long tasks in this
# window count too.
AFTER_LOAD_MS = 1000
OBSERVE = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longtasks.push(entry.duration);
}).observe({type: 'longtask', buffered: true});
"""
MEASURE = """() => ({
  tbt: window.__longtasks.reduce((sum, d) => sum + Math.max(0, d - 50), 0),
  load: performance.getEntriesByType('navigation')[0].loadEventStart,
})"""
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host page</title>
<style>body {{ font: 16px/1.5 Georgia, serif; max-width: 40em; margin: 2em auto; }}</style>
{snippet}</head>
<body><h1>Tents and boots</h1>{paragraphs}</body></html>
"""


def _host(pages: dict[str, bytes]) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            body = pages.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


async def _browse(base: str, host: str, rounds: int) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        timings: dict[str, list[dict[str, float]]] = {"/plain": [], "/snippet": []}
        loaded: dict[str, int] = {}
        for n in range(rounds):
            for path in timings:
                context = await browser.new_context()  # a cold cache every time
                page = await context.new_page()
                cdp = await context.new_cdp_session(page)
                await cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
                await page.add_init_script(OBSERVE)
                finished: list[Any] = []
                page.on("requestfinished", lambda request, seen=finished: seen.append(request))
                await page.goto(host + path, wait_until="load")
                await page.wait_for_timeout(AFTER_LOAD_MS)
                timings[path].append(await page.evaluate(MEASURE))
                if n == 0 and path == "/snippet":
                    loaded["before"] = await _bytes(finished, base)
                    before = len(finished)
                    await page.locator(".cs-launcher").click()
                    await page.locator(".cs-panel").wait_for(state="visible", timeout=10000)
                    await page.wait_for_timeout(AFTER_LOAD_MS)
                    loaded["after"] = await _bytes(finished[before:], base)
                await context.close()
        await browser.close()
    return {"timings": timings, **loaded}


async def _bytes(requests: list[Any], origin: str) -> int:
    """Sum the response bodies as sent (gzipped where the server compresses) from origin."""
    total = 0
    for request in requests:
        if request.url.startswith(origin):
            total += (await request.sizes())["responseBodySize"]
    return total


def run(mode: Mode) -> list[Row]:
    rounds = mode.pick(7, 1)
    loader_budget = "ours<=2048"
    with tempfile.TemporaryDirectory() as tmp:
        pages: dict[str, bytes] = {}
        server, port = _host(pages)
        host = f"http://127.0.0.1:{port}"
        ready = prepare(Path(tmp), 1, 0, origins=[host])
        process, base = start_chatserver(Path(tmp))
        try:
            loader = httpx.get(f"{base}/widget.js", headers={"Accept-Encoding": "gzip"})
            loader_gz = loader.num_bytes_downloaded
            rows = [Row("widget", "loader /widget.js, gzipped", loader_gz, None, "bytes",
                        loader_budget)]
            if not shutil.which(CHROMIUM):
                print(f"widget: {CHROMIUM} is missing; browser figures skipped", flush=True)
                return rows
            print(f"widget: host page with and without the snippet, {rounds} rounds each, "
                  f"CPU slowed {CPU_SLOWDOWN}x", flush=True)
            paragraphs = "".join(f"<p>Paragraph {n}: everything for a weekend outside.</p>"
                                 for n in range(40))
            snippet = f'<script async src="{base}/widget.js" data-site="{ready.site_keys[0]}"></script>'
            pages["/plain"] = PAGE.format(snippet="", paragraphs=paragraphs).encode()
            pages["/snippet"] = PAGE.format(snippet=snippet, paragraphs=paragraphs).encode()
            seen = run_async(lambda: _browse(base, host, rounds))
        finally:
            stop(process)
            server.shutdown()
    plain, embedded = seen["timings"]["/plain"], seen["timings"]["/snippet"]
    tbt = median([t["tbt"] for t in embedded]) - median([t["tbt"] for t in plain])
    load = median([t["load"] for t in embedded]) - median([t["load"] for t in plain])
    return rows + [
        Row("widget", "loaded before the first open, gzipped", seen["before"], None, "bytes",
            "ours<=20480"),
        Row("widget", "loaded before and after the first open, gzipped",
            seen["before"] + seen["after"], None, "bytes", "ours<=20480"),
        Row("widget", f"added total blocking time (CPU {CPU_SLOWDOWN}x slower)", max(tbt, 0.0),
            None, "ms", "ours<=10",
            note=f"page without snippet: {median([t['tbt'] for t in plain]):.0f} ms"),
        Row("widget", f"time to load event, with vs without the snippet (CPU {CPU_SLOWDOWN}x slower)",
            median([t["load"] for t in embedded]), median([t["load"] for t in plain]), "ms",
            note=f"added {load:.0f} ms"),
    ]


