"""Files both ways in Chromium: the widget on a host page of another origin, and the console."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser import HostSite, expect
from test_files import png

from conftest import PASSWORD, Client, Server, agent

SEEN_TIMEOUT_MS = 8000
SHOTS = Path("/tmp")
HOSTILE = {
    "page.html": b"<!doctype html><html><body><script>alert('html ran')</script></body></html>",
    "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert("svg ran")</script></svg>',
    "cat.gif": b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;<script>alert('gif ran')</script>;",
}


@pytest.fixture
def host(server: Server) -> Iterator[HostSite]:
    with HostSite(server).running() as site:
        yield site


async def _assigned(ann: Client) -> str:
    event = await ann.expect("conversation", timeout=10)
    while event["conversation"]["status"] != "assigned":
        event = await ann.expect("conversation", timeout=10)
    conversation = str(event["conversation"]["id"])
    await ann.send(type="sync", conversation=conversation, after=0)
    await ann.expect("synced", conversation=conversation)
    return conversation


async def _loaded(image: Any) -> None:
    """Wait until an <img> has decoded real pixels."""
    await expect(image).to_have_attribute("src", re.compile(r"^blob:|/api/v1/files/"),
                                          timeout=SEEN_TIMEOUT_MS)
    await image.evaluate("img => img.decode()")
    assert await image.evaluate("img => img.naturalWidth") == 40


async def test_files_both_ways_between_the_widget_and_the_console(
    server: Server, host: HostSite, browser: Any, tmp_path: Path
) -> None:
    site = await server.add_site("Acme", origins=[host.origin])
    host.site_key = site.public_key
    await server.add_agent("ann@example.com", site, name="Ann")
    ann = await agent(server, "ann@example.com")
    shot = png(40, 30)
    (tmp_path / "screenshot.png").write_bytes(shot)
    (tmp_path / "notes.txt").write_bytes(b"Order 1234: the blender, serial XJ-9.\n")

    # The visitor asks, gets Ann, and attaches a screenshot with the paperclip.
    visitor_page = await browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    await visitor_page.goto(host.url())
    await visitor_page.locator(".cs-launcher").click()
    await visitor_page.locator(".cs-input").fill("zxqv my blender hums")
    await visitor_page.keyboard.press("Enter")
    conversation = await _assigned(ann)
    await expect(visitor_page.locator(".cs-sub")).to_have_text("You are chatting with Ann",
                                                               timeout=SEEN_TIMEOUT_MS)
    async with visitor_page.expect_file_chooser() as chooser:
        await visitor_page.locator(".cs-clip").click()
    await (await chooser.value).set_files(str(tmp_path / "screenshot.png"))
    await _loaded(visitor_page.locator(".cs-me .cs-img"))
    await expect(visitor_page.locator(".cs-me .cs-meta").last).to_contain_text("Sent")
    sent = await ann.expect("message", conversation=conversation, seq=2)
    assert sent["files"][0]["name"] == "screenshot.png" and sent["files"][0]["inline"] is True
    await visitor_page.screenshot(path=str(SHOTS / "files-widget-image.png"))

    # Ann sees the preview in the console and downloads the file.
    console = await browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    await console.goto(f"{server.http}/console/signin")
    await console.fill("#email", "ann@example.com")
    await console.fill("#password", PASSWORD)
    await console.click("button[type=submit]")
    await console.locator("#list-mine .conv").first.click(timeout=SEEN_TIMEOUT_MS)
    await _loaded(console.locator(".msg-visitor .msg-img"))
    async with console.expect_download() as downloading:
        await console.locator(".msg-visitor .msg-file").click()
    download = await downloading.value
    assert download.suggested_filename == "screenshot.png"
    assert Path(await download.path()).read_bytes() == shot

    # Ann attaches a text file; the visitor gets a named link and downloads it.
    await console.set_input_files("#attach-input", str(tmp_path / "notes.txt"))
    link = visitor_page.locator(".cs-them .cs-file")
    await expect(link).to_have_text("notes.txt", timeout=SEEN_TIMEOUT_MS)
    await expect(console.locator(".msg-mine .msg-file")).to_have_text("notes.txt")
    await console.screenshot(path=str(SHOTS / "files-console.png"))
    async with visitor_page.expect_download() as downloading:
        await link.click()
    download = await downloading.value
    assert download.suggested_filename == "notes.txt"
    assert Path(await download.path()).read_bytes() == (tmp_path / "notes.txt").read_bytes()
    await visitor_page.screenshot(path=str(SHOTS / "files-widget-link.png"))

    # Hostile files, opened straight from the console's origin, are downloads that run nothing.
    ran: list[str] = []
    console.on("dialog", lambda dialog: ran.append(dialog.message))
    cookie = {c["name"]: c["value"] for c in await console.context.cookies()}["chatserver_session"]
    for name, data in HOSTILE.items():
        async with httpx.AsyncClient(cookies={"chatserver_session": cookie}) as http:
            up = await http.post(f"{server.http}/api/v1/conversations/{conversation}/files",
                                 params={"name": name}, content=data)
        assert up.status_code == 201, up.text
        async with console.expect_download() as downloading:
            with contextlib.suppress(Exception):  # Chromium aborts the navigation: a download
                await console.goto(f"{server.http}/api/v1/files/{up.json()['file']['id']}")
        assert (await downloading.value).suggested_filename == name
    await console.wait_for_timeout(500)
    assert ran == []
    await ann.close()
