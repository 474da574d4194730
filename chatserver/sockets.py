"""The two WebSocket endpoints: one for visitors, one for agents. A transport, nothing more.

A socket is authenticated first (Origin at the handshake, then a hello frame), then reads
frames one at a time: each is parsed by protocol.py, handed to its command in chat/ by the
dispatch tables below, and the command's effects are delivered by the hub.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.websockets import WebSocket

from chatserver import agents, auth, customers, lockout, metrics, protocol, sites
from chatserver.chat import commands, transcripts
from chatserver.chat.actors import Actor, Staff, Visitor
from chatserver.chat.effects import Effects
from chatserver.chat.messages import Overloaded
from chatserver.limits import blocks, mail_proof, rules
from chatserver.limits.gate import Blocked, Limited
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.server.connection import Connection
from chatserver.server.lean import forget_handshake
from chatserver.store import new_id
from chatserver.tickets import handover

log = logging.getLogger("chatserver.sockets")

# A client that connects must say hello this soon, or it is closed: a socket that never
# authenticates holds memory for nothing.
HELLO_TIMEOUT_SECONDS = 10.0
# What a store that fails (a full disk, a database restarting) raises; the client is told to
# retry after a few seconds, which is about how long a database takes to fail over.
STORE_ERRORS = (DBAPIError, sqlite3.Error, OSError, TimeoutError)
RETRY_AFTER_SECONDS = 5
# A saturated server drains its backlog within a fraction of a second.
OVERLOAD_RETRY_SECONDS = 1
CLOSE_TRY_AGAIN = 1013  # RFC 6455: try again later

Endpoint = Callable[[WebSocket], Awaitable[None]]
Command = Callable[[Runtime, Any, Any], Awaitable[Effects]]

# One line per frame type: which command it calls, with which keys of the parsed frame.
BOTH: dict[str, Command] = {
    "message": lambda rt, a, f: commands.send(rt, a, f["conversation"], f["client_id"], f["text"]),
    "typing": lambda rt, a, f: commands.typing(rt, a, f["conversation"], f["active"]),
    "receipt": lambda rt, a, f: commands.receipt(rt, a, f["conversation"], f["status"], f["seq"]),
    "sync": lambda rt, a, f: commands.sync(rt, a, f["conversation"], f["after"]),
    "close": lambda rt, a, f: commands.close(rt, a, f["conversation"]),
    "ping": lambda rt, a, f: _pong(),
    "hello": lambda rt, a, f: _hello_again(),
}
VISITOR: dict[str, Command] = {
    **BOTH,
    "start": lambda rt, a, f: commands.start(rt, a, f["client_id"], f["text"], f.get("locale")),
    "search": lambda rt, a, f: commands.search(rt, a, f["text"], f.get("locale")),
    "escalate": lambda rt, a, f: commands.escalate(rt, a, f["conversation"]),
    "resolve": lambda rt, a, f: commands.resolve(rt, a, f["conversation"]),
    "article": lambda rt, a, f: commands.article(rt, a, f["slug"], f["locale"], f.get("conversation")),
    "rate": lambda rt, a, f: commands.rate(rt, a, f["conversation"], f["score"], f.get("comment")),
    "leave_email": lambda rt, a, f: handover.leave_email(
        rt, a, f.get("conversation"), f["email"], f.get("name"), f.get("text"), f.get("client_id")
    ),
    "transcript": lambda rt, a, f: transcripts.send(
        rt, a, f["conversation"], f["email"], f.get("locale"), f.get("client_id")
    ),
    "verify_email": lambda rt, a, f: mail_proof.request(
        rt, a, f["email"], f.get("locale"), f.get("client_id")
    ),
    "confirm_email": lambda rt, a, f: mail_proof.confirm(rt, a, f["email"], f["code"], f.get("client_id")),
    "conversations": lambda rt, a, f: commands.listed(rt, a),
}
AGENT: dict[str, Command] = {
    **BOTH,
    "accept": lambda rt, a, f: commands.accept(rt, a, f["conversation"]),
    "transfer": lambda rt, a, f: commands.transfer(rt, a, f["conversation"], f["agent"]),
    "presence": lambda rt, a, f: commands.presence(rt, a, f["status"]),
    "convert": lambda rt, a, f: handover.convert(rt, a, f["conversation"], f.get("subject")),
    "note": lambda rt, a, f: commands.note(rt, a, f["conversation"], f["client_id"], f["text"]),
}
assert set(VISITOR) == protocol.VISITOR_TYPES and set(AGENT) == protocol.AGENT_TYPES


async def _pong() -> Effects:
    return Effects().reply(protocol.pong())


async def _hello_again() -> Effects:
    raise ProtocolError("invalid_message", "already said hello")


async def visitor_endpoint(websocket: WebSocket) -> None:
    rt: Runtime = websocket.app.state.runtime
    site = await sites.by_key(rt.store, websocket.query_params.get("site", ""))
    origin = websocket.headers.get("origin")
    host, scheme = websocket.headers.get("host"), websocket.url.scheme
    if site is None or not sites.origin_allowed(site, origin, host, scheme):
        # Closing before accept answers the handshake with HTTP 403.
        log.info("event=socket_refused role=visitor origin=%s", origin)
        await websocket.close(code=1008)
        return
    # Article links in suggestions point at this server's public help centre.
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    base_url = f"{scheme}://{websocket.headers.get('host', websocket.url.netloc)}"
    client = websocket.client.host if websocket.client else None
    address, network = blocks.address(client), lockout.network(client)
    await websocket.accept()
    try:
        # Before hello: a socket that never says hello is counted too.
        rt.gate.blocked(site, host=address)
        await rt.gate.check(site, "socket", network=network)
    except (Blocked, Limited) as refused:
        await _limited(websocket, refused)
        return
    hello = await _hello(websocket, rt)
    if hello is None:
        return
    identity = rt.signer.visitor(hello.get("token", ""))
    known = (await customers.of_site(rt.store, identity.contact_id, site.id)
             if identity is not None and identity.site_id == site.id else None)
    if identity is None or known is None:
        await _refuse(websocket, "unauthorized", "the visitor token is wrong or expired")
        return
    contact_id = identity.contact_id
    try:
        rt.gate.blocked(site, contact_id)
        await rt.gate.check(site, "socket", visitor=contact_id, whole_site=False)
        if not rt.gate.opened(site, network, contact_id):
            raise Limited("socket", 1000 * rules.MINUTE)
    except (Blocked, Limited) as refused:
        await _limited(websocket, refused)
        return
    try:
        connection = Connection(websocket)
        visitor = Visitor(site, contact_id, known.name, base_url, _follower(rt, connection), address, network)
        on_page = rt.live.arrive(site.id, contact_id)
        try:
            await _serve(rt, websocket, connection, visitor, VISITOR, commands.welcome_visitor(rt, visitor),
                         _guard(rt, visitor))
        finally:
            rt.live.leave(on_page)
    finally:
        rt.gate.closed(site, network, contact_id)


def _guard(rt: Runtime, visitor: Visitor) -> Callable[[Any], Awaitable[None]]:
    """Return the check each of a visitor's frames passes before its command: blocks, budgets."""
    site, contact_id, host, network = visitor.site, visitor.contact_id, visitor.host, visitor.network
    gate = rt.gate

    async def guard(request: Any) -> None:
        ref = request and (request.get("client_id") or request.get("conversation"))
        gate.blocked(site, contact_id, host, ref)
        door = rules.FRAME_DOORS.get(request["type"], "frame") if request else "frame"
        await gate.check(site, door, network=network, visitor=contact_id, ref=ref)

    return guard


async def _limited(websocket: WebSocket, refused: Blocked | Limited) -> None:
    """Refuse a socket at its door: a blocked visitor is told so (4401), a busy one when to return."""
    if isinstance(refused, Blocked):
        await _refuse(websocket, refused.code, refused.message)
        return
    await websocket.send_text(protocol.dump(
        protocol.error(refused.code, refused.message, retry_after=refused.retry_after)))
    await websocket.close(CLOSE_TRY_AGAIN, refused.message)


async def agent_endpoint(websocket: WebSocket) -> None:
    rt: Runtime = websocket.app.state.runtime
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host", "")
    # Browsers always send Origin; a page on another origin must not ride the agent's cookie.
    if origin and not sites.same_origin(origin, host, websocket.url.scheme):
        log.info("event=socket_refused role=agent origin=%s", origin)
        await websocket.close(code=1008)
        return
    found = await agents.signed_in(rt.store, rt.signer, websocket.cookies.get(auth.SESSION_COOKIE))
    agent = found[0] if found else None
    await websocket.accept()
    if agent is None:
        await _refuse(websocket, "unauthorized", "sign in first: no valid session cookie")
        return
    hello = await _hello(websocket, rt)
    if hello is None:
        return
    connection = Connection(websocket)
    site_ids = await agents.site_ids(rt.store, agent)
    staff = Staff(agent, site_ids, new_id(), _follower(rt, connection))
    try:
        await _serve(rt, websocket, connection, staff, AGENT, commands.welcome_agent(rt, staff))
    finally:
        await rt.hub.deliver(await commands.goodbye_agent(rt, staff))


def _unavailable(connection: Connection, kind: str, failed: BaseException, ref: str | None) -> None:
    """Answer a frame the store could not take: nothing was stored, the socket stays open."""
    metrics.REFUSED.labels("unavailable").inc()
    log.warning("event=store_unavailable frame=%s error=%s", kind,
                str(getattr(failed, "orig", None) or failed).splitlines()[0][:200])
    connection.send_event(protocol.error(
        "unavailable", "the server cannot store this right now; send it again shortly", ref,
        retry_after=RETRY_AFTER_SECONDS,
    ))


def _follower(rt: Runtime, connection: Connection) -> Callable[[str], Awaitable[None]]:
    async def follow(topic: str) -> None:
        await rt.hub.follow(connection, topic)

    return follow


async def _serve(
    rt: Runtime, websocket: WebSocket, connection: Connection, actor: Actor,
    table: dict[str, Command], welcome: Awaitable[Effects],
    guard: Callable[[Any], Awaitable[None]] | None = None,
) -> None:
    """Welcome the client, then run each frame's command until the client goes away."""
    forget_handshake(websocket)
    role = actor.kind
    metrics.SOCKETS.labels(role).inc()
    try:
        try:
            await rt.hub.deliver(await welcome, connection)
        except STORE_ERRORS as failed:
            _unavailable(connection, "welcome", failed, None)
            connection.close(CLOSE_TRY_AGAIN, "the server cannot read its store; reconnect soon")
            return
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            frame = received.get("text")
            if frame is None:
                frame = received.get("bytes")
            request: Any = None
            try:
                try:
                    request = protocol.parse(frame, rt.settings.max_frame_bytes)
                except ProtocolError:
                    if guard is not None:
                        await guard(None)  # a frame that does not parse spends a "frame" too
                    raise
                if guard is not None:
                    await guard(request)
                command = table.get(request["type"])
                if command is None:
                    raise ProtocolError(
                        "unknown_type", f"'{request['type']}' is not available to {role}s",
                        request.get("client_id"),
                    )
                await rt.hub.deliver(await command(rt, actor, request), connection)
            except ProtocolError as refused:
                metrics.REFUSED.labels(refused.code).inc()
                connection.send_event(protocol.error(refused.code, refused.message, refused.ref,
                                                     getattr(refused, "retry_after", None)))
                if isinstance(refused, Blocked):
                    # The loop reads on until the client answers the close; what it sends
                    # meanwhile meets the same block.
                    connection.close(protocol.CLOSE_UNAUTHORIZED, refused.message)
            except STORE_ERRORS as failed:
                ref = request.get("client_id") or request.get("conversation")
                _unavailable(connection, request["type"], failed, ref)
            except Overloaded:
                metrics.REFUSED.labels("overloaded").inc()
                # Saturated: refused at once, so latency stays bounded for what is taken.
                connection.send_event(protocol.error(
                    "unavailable", "the server is busy; send it again shortly",
                    request.get("client_id"), retry_after=OVERLOAD_RETRY_SECONDS,
                ))
    finally:
        metrics.SOCKETS.labels(role).dec()
        await rt.hub.forget(connection)
        await connection.drain()


async def _hello(websocket: WebSocket, rt: Runtime) -> protocol.Hello | None:
    """Wait for the hello frame; close the socket and return None if it does not come."""
    try:
        received = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_SECONDS)
    except TimeoutError:
        await _refuse(websocket, "unauthorized", "no hello in time", protocol.CLOSE_HELLO_TIMEOUT)
        return None
    if received["type"] == "websocket.disconnect":
        return None
    try:
        request = protocol.parse(received.get("text"), rt.settings.max_frame_bytes)
    except ProtocolError as refused:
        await _refuse(websocket, refused.code, refused.message)
        return None
    if request["type"] != "hello":
        await _refuse(websocket, "unauthorized", "the first frame must be hello")
        return None
    return request


async def _refuse(
    websocket: WebSocket, code: str, message: str, close_code: int = protocol.CLOSE_UNAUTHORIZED
) -> None:
    await websocket.send_text(protocol.dump(protocol.error(code, message)))
    await websocket.close(close_code, message)
