"""Blocking abusers (issue 15): what a block stores, the block honoured at every door, the
agents' API, the admin page of blocked traffic, and the command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from dns_zone import signed
from limit_clients import token_from, visitor_from
from mail_fixtures import INBOUND_SECRET, MailServer, Sink
from test_console import csrf_of, sign_in
from test_mail_smtp import _reply_to, _ticket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chatserver.limits import blocks
from conftest import Client, Server, login, visitor

ATTACKER = "127.0.0.2"
# A /24 of its own, so blocking it leaves the tests' 127.0.0.1 alone.
NEIGHBOUR = "127.0.1.9"


def test_what_a_block_stores() -> None:
    assert blocks.target("ip", "203.0.113.9") == ("network", "203.0.113.9/32")
    assert blocks.target("ip", "::ffff:203.0.113.9") == ("network", "203.0.113.9/32")
    assert blocks.target("network", "203.0.113.9") == ("network", "203.0.113.0/24")
    assert blocks.target("network", "2001:db8::1") == ("network", "2001:db8::/48")
    assert blocks.target("network", "198.51.100.0/23") == ("network", "198.51.100.0/23")
    assert blocks.target("contact", "abc") == ("contact", "abc")
    for kind, value in (("network", "10.0.0.0/8"), ("ip", "nonsense"), ("network", "1.2.3.4/99"),
                        ("planet", "x"), ("contact", "")):
        with pytest.raises(blocks.BlockError):
            blocks.target(kind, value)


async def _api(server: Server, method: str, path: str, cookie: str, body: object = None,
               origin: str | None = None) -> httpx.Response:
    headers = {"Cookie": f"chatserver_session={cookie}", **({"Origin": origin} if origin else {})}
    async with httpx.AsyncClient() as http:
        return await http.request(method, server.http + path, headers=headers,
                                  content=json.dumps(body) if body is not None else None)


async def _refused(client: Client) -> None:
    """The socket is told it is blocked, then closed with 4401."""
    await client.send(type="ping")
    refused = await client.expect("error")
    assert refused["code"] == "blocked" and "does not accept" in refused["message"]
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await client.ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


@pytest.mark.shared_server
async def test_an_agent_blocks_a_visitor_then_their_address_and_every_door_refuses(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    other = await server.add_site("Other")
    await server.add_agent("ann@example.com", site)
    await server.add_agent("bob@example.com", other)
    ann, bob = await login(server, "ann@example.com"), await login(server, "bob@example.com")
    path = f"/api/v1/sites/{site.public_key}/blocks"

    issued = (await token_from(server, site, ATTACKER)).json()
    token, contact = issued["token"], issued["visitor"]["id"]
    abuser = await visitor_from(server, site, ATTACKER, token)
    calm = await visitor(server, site)
    clients.extend([abuser, calm])
    await abuser.send(type="start", client_id="s", text="zxqv rude words")
    await abuser.expect("ack", ref="s")

    # Another site's agent, and a page of another origin, cannot block here.
    by_bob = await _api(server, "POST", path, bob, {"kind": "contact", "contact": contact})
    assert by_bob.status_code == 404
    foreign = await _api(server, "POST", path, ann, {"kind": "contact", "contact": contact},
                         origin="https://evil.example")
    assert foreign.status_code == 403

    made = await _api(server, "POST", path, ann, {"kind": "contact", "contact": contact,
                                                  "note": "insults"})
    assert made.status_code == 201 and made.json()["block"]["kind"] == "contact"
    again = await _api(server, "POST", path, ann, {"kind": "token", "value": token})
    assert again.status_code == 200 and again.json()["block"]["id"] == made.json()["block"]["id"]
    await _refused(abuser)
    renewal = await token_from(server, site, ATTACKER, token=token)
    assert renewal.status_code == 403 and renewal.json()["code"] == "blocked"

    # A fresh token from the same address still works, until the address is blocked too.
    assert (await token_from(server, site, ATTACKER)).status_code == 200
    by_ip = await _api(server, "POST", path, ann, {"kind": "ip", "contact": contact})
    assert by_ip.status_code == 201 and by_ip.json()["block"]["value"] == f"{ATTACKER}/32"
    assert (await token_from(server, site, ATTACKER)).json()["code"] == "blocked"
    ws = await connect(f"{server.ws}/ws/visitor?site={site.public_key}", origin=server.http,  # type: ignore[arg-type]
                       local_addr=(ATTACKER, 0))
    first = json.loads(await ws.recv())
    assert first["code"] == "blocked"
    await ws.close()

    # The well-behaved visitor of the same site never noticed, and the other site is free.
    await calm.send(type="start", client_id="c", text="zxqv where is my order")
    assert (await calm.expect("ack", ref="c"))["seq"] == 1
    assert (await token_from(server, other, ATTACKER)).status_code == 200

    # The report counts what each block refused (added to the store every two seconds).
    await asyncio.sleep(blocks.REFRESH_SECONDS * 1.5)
    listed = (await _api(server, "GET", path, ann)).json()["blocks"]
    hits = {b["kind"]: b["hits"] for b in listed}
    assert hits["contact"] >= 2 and hits["network"] >= 2
    assert (await _api(server, "GET", path, bob)).status_code == 404

    for block in listed:
        assert (await _api(server, "DELETE", f"{path}/{block['id']}", ann)).status_code == 204
    assert (await _api(server, "DELETE", f"{path}/{listed[0]['id']}", ann)).status_code == 404
    assert (await token_from(server, site, ATTACKER, token=token)).status_code == 200


@pytest.mark.shared_server
async def test_a_blocked_network_is_refused_and_its_neighbours_are_not(
    server: Server, clients: list[Client]
) -> None:
    site = await server.add_site()
    await server.add_agent("ann@example.com", site)
    ann = await login(server, "ann@example.com")
    path = f"/api/v1/sites/{site.public_key}/blocks"
    inside = await visitor_from(server, site, NEIGHBOUR)
    clients.append(inside)
    too_wide = await _api(server, "POST", path, ann, {"kind": "network", "value": "127.0.0.0/8"})
    assert too_wide.status_code == 400 and "/16" in too_wide.json()["message"]
    made = await _api(server, "POST", path, ann, {"kind": "network", "value": NEIGHBOUR})
    assert made.json()["block"]["value"] == "127.0.1.0/24"
    await _refused(inside)
    assert (await token_from(server, site, "127.0.1.200")).status_code == 403
    assert (await token_from(server, site, "127.0.2.1")).status_code == 200


async def test_the_admin_page_lists_blocks_with_what_they_refused(server: Server, tmp_path: Path) -> None:
    site = await server.add_site("Shop")
    await server.add_agent("root@example.com", role="admin")
    cli = [sys.executable, "-m", "chatserver", "block"]
    data = ["--data-dir", str(server.data_dir)]
    added = subprocess.run([*cli, "add", "--site", site.public_key, "--ip", ATTACKER, "--note", "bots",
                            *data], capture_output=True, text=True, timeout=60, env=server.env)
    assert added.returncode == 0 and f"blocked: network {ATTACKER}/32" in added.stdout, added.stderr
    bad = subprocess.run([*cli, "add", "--site", site.public_key, "--network", "10.0.0.0/8", *data],
                         capture_output=True, text=True, timeout=60, env=server.env)
    assert bad.returncode == 2 and "at most /16" in bad.stderr and "Traceback" not in bad.stderr
    await asyncio.sleep(blocks.REFRESH_SECONDS * 1.5)  # the server reads blocks again
    assert (await token_from(server, site, ATTACKER)).status_code == 403
    await asyncio.sleep(blocks.REFRESH_SECONDS * 1.5)

    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        await sign_in(http, "root@example.com")
        page = await http.get("/console/admin/blocks")
        assert page.status_code == 200 and f"{ATTACKER}/32" in page.text and "bots" in page.text
        assert ">1</td>" in page.text  # one refused token request
        listed = json.loads(subprocess.run([*cli, "list", "--site", site.public_key, "--json", *data],
                                           capture_output=True, text=True, timeout=60, env=server.env).stdout)
        assert listed[0]["hits"] == 1
        lifted = await http.post(f"/console/admin/blocks/{site.public_key}/{listed[0]['id']}/delete",
                                 data={"csrf": csrf_of(page.text)})
        assert lifted.status_code == 303
        assert "Nobody is blocked" in (await http.get("/console/admin/blocks")).text
    assert (await token_from(server, site, ATTACKER)).status_code == 200


async def test_mail_from_a_blocked_customer_is_held_not_added(
    mail_server: MailServer, sink: Sink, clients: list[Client]
) -> None:
    ticket = await _ticket(mail_server, clients)
    confirmation = await sink.to("ann@example.com")
    cookie = await login(mail_server, "anna@shop.example")
    detail = (await mail_server.api("GET", f"/api/v1/tickets/{ticket['id']}", cookie)).json()["ticket"]
    # The console names a site by its id; the API takes it as well as the key.
    blocked = await _api(mail_server, "POST", f"/api/v1/sites/{detail['site']}/blocks", cookie,
                         {"kind": "contact", "contact": detail["contact"]["id"]})
    assert blocked.status_code == 201
    mail = _reply_to(confirmation, "ann@example.com", "You will regret this.")
    answer = await mail_server.api("POST", "/api/v1/inbound-mail",
                                   content=signed(mail.as_bytes(), "example.com"),
                                   headers={"Authorization": f"Bearer {INBOUND_SECRET}"})
    assert answer.json() == {"outcome": "quarantined", "ticket": ticket["id"], "reason": "blocked"}
    entries = (await mail_server.api("GET", f"/api/v1/tickets/{ticket['id']}", cookie)).json()["entries"]
    assert not any("regret" in e["text"] for e in entries)
