"""/metrics: what an operator's monitoring scrapes, and who may scrape it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from conftest import Chat, Client, Server, agent, visitor

FOREIGN = {"X-Forwarded-For": "203.0.113.9"}  # uvicorn trusts the header from loopback


def _value(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert found, f"{name}{labels} is not in /metrics"
    return float(found.group(1))


async def test_metrics_show_sockets_messages_and_queues_to_this_machine_only(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await agent(server, "ann@example.com")
    guest = await visitor(server, site)
    clients += [ann, guest]
    await ann.send(type="presence", status="away")  # the chat waits in the queue
    await ann.send(type="ping")
    await ann.expect("pong")
    await guest.send(type="start", client_id="s1", text="zxqv blorp fnord")
    chat = (await guest.expect("ack"))["conversation"]
    await ann.expect("conversation", conversation=Chat(chat, "queued"))
    await guest.send(type="message", conversation="nope", client_id="x", text="hi")
    await guest.expect("error", ref="x")

    async with httpx.AsyncClient() as http:
        for _ in range(30):  # store-held figures are read every few seconds
            scraped = await http.get(server.http + "/metrics")
            assert scraped.status_code == 200
            text = scraped.text
            if f'chatserver_queue_length{{site="{site.public_key}"}} 1.0' in text:
                break
            await asyncio.sleep(0.5)
        foreign = await http.get(server.http + "/metrics", headers=FOREIGN)
    assert _value(text, "chatserver_sockets_open", '{role="visitor"}') >= 1
    assert _value(text, "chatserver_sockets_open", '{role="agent"}') >= 1
    assert _value(text, "chatserver_messages_stored_total") >= 1
    assert _value(text, "chatserver_frames_refused_total", '{code="not_found"}') >= 1
    assert _value(text, "chatserver_queue_length", f'{{site="{site.public_key}"}}') == 1
    assert _value(text, "chatserver_commit_batch_size_count") >= 1
    assert _value(text, "chatserver_mail_outbox", '{state="dead"}') == 0
    assert foreign.status_code == 403 and foreign.json()["code"] == "forbidden"


async def test_a_scraper_elsewhere_brings_the_token(data_dir: Path) -> None:
    server = Server(data_dir, {"CHATSERVER_METRICS_TOKEN": "scrape-me"})
    server.start()
    try:
        async with httpx.AsyncClient() as http:
            wrong = await http.get(server.http + "/metrics",
                                   headers={**FOREIGN, "Authorization": "Bearer guess"})
            right = await http.get(server.http + "/metrics",
                                   headers={**FOREIGN, "Authorization": "Bearer scrape-me"})
    finally:
        server.stop()
    assert wrong.status_code == 403
    assert right.status_code == 200 and "chatserver_sockets_open" in right.text
