"""The two WebSocket endpoints: one for visitors, one for agents.

A socket is authenticated first (Origin at the handshake, then a hello frame), then reads
frames one at a time; each frame is parsed by protocol.py and handled by one method here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from starlette.websockets import WebSocket

from chatserver import agents, articles, auth, customers, events, protocol, sites, suggestions, visitor_status
from chatserver.agents import Agent
from chatserver.chat import conversations, notes, queue, transcripts
from chatserver.chat.conversations import Conversation, ConversationClosed, IllegalTransition, Status
from chatserver.chat.messages import NotHolder
from chatserver.protocol import ProtocolError
from chatserver.runtime import Runtime
from chatserver.server import hub
from chatserver.server.hub import Connection
from chatserver.store import new_id
from chatserver.tickets import handover
from chatserver.tickets.records import TicketError

log = logging.getLogger("chatserver.sockets")

# A client that connects must say hello this soon, or it is closed: a socket that never
# authenticates holds memory for nothing.
HELLO_TIMEOUT_SECONDS = 10.0
# Protocol-level pings keep idle sockets alive through proxies (nginx closes after 60 s of
# silence by default) and find dead peers; uvicorn sends them (see cli.py).
HEARTBEAT_SECONDS = 20.0

# Conversations one socket remembers it may use; a visitor has a handful, an agent a few
# dozen a day. Past this the memory is dropped and rebuilt from the store.
USABLE_KEPT = 64

Handler = Callable[[Any], Awaitable[None]]
Endpoint = Callable[[WebSocket], Awaitable[None]]


class Session:
    """One authenticated socket: reads frames and dispatches them to handlers."""

    role: Literal["visitor", "agent"]
    allowed: frozenset[str]
    # The name others see on this socket's messages and typing; visitors may stay anonymous.
    display_name: str | None = None

    def __init__(self, rt: Runtime, websocket: WebSocket, connection: Connection) -> None:
        self.rt = rt
        self.websocket = websocket
        self.connection = connection
        # Conversations this socket was allowed to use; created on first use, since most
        # idle sockets never need it.
        self._usable: set[str] | None = None

    async def run(self) -> None:
        """Handle frames until the client goes away."""
        while True:
            received = await self.websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            frame = received.get("text")
            if frame is None:
                frame = received.get("bytes")
            try:
                request = protocol.parse(frame, self.rt.settings.max_frame_bytes)
                kind = request["type"]
                if kind not in self.allowed:
                    raise ProtocolError(
                        "unknown_type", f"'{kind}' is not available to {self.role}s",
                        request.get("client_id"),  # type: ignore[arg-type]
                    )
                await self._handler(kind)(request)
            except ProtocolError as refused:
                self.connection.send_event(protocol.error(refused.code, refused.message, refused.ref))

    def _handler(self, kind: str) -> Handler:
        handler: Handler = getattr(self, "on_" + kind)
        return handler

    async def conversation(self, conversation_id: str, ref: str | None = None) -> Conversation:
        """Return a conversation this socket may use; the same error for absent and foreign.

        ref is what an error names: the refused message's client id, else the conversation.
        """
        async with self.rt.store.read() as conn:
            found = await conversations.get(conn, conversation_id)
        if found is None or not await self.may_use(found):
            raise ProtocolError("not_found", "no such conversation", ref or conversation_id)
        self.remember(found.id)
        return found

    def remember(self, conversation_id: str) -> None:
        """Keep the yes: access rests on facts that never change for a conversation or
        during a socket's life (its site and contact; the agent's sites, read at connect).
        Status and holder do change: they are checked where they matter, at write time.
        """
        if self._usable is None or len(self._usable) >= USABLE_KEPT:
            self._usable = set()
        self._usable.add(conversation_id)

    async def usable(self, conversation_id: str, ref: str | None = None) -> str:
        """Return conversation_id if this socket may use it, reading the store once per chat."""
        if self._usable is None or conversation_id not in self._usable:
            await self.conversation(conversation_id, ref)
        return conversation_id

    def holder_needed(self) -> str | None:
        """Return the agent who must hold a conversation for this socket to write in it."""
        return None

    async def may_use(self, conversation: Conversation) -> bool:
        raise NotImplementedError

    async def author(self) -> tuple[Literal["visitor", "agent"], str]:
        raise NotImplementedError

    async def on_hello(self, request: protocol.Hello) -> None:
        raise ProtocolError("invalid_message", "already said hello")

    async def on_ping(self, request: protocol.Ping) -> None:
        self.connection.send_event({"type": "pong"})

    async def on_message(self, request: protocol.Message) -> None:
        ref = request["client_id"]
        conversation_id = await self.usable(request["conversation"], ref)
        kind, author_id = await self.author()
        try:
            # Status and holder are checked inside the write transaction (batching.py), so
            # the hot path reads nothing; a refusal reads the conversation to say why.
            message, created = await self.rt.writer.append(
                conversation_id, kind, author_id, ref, request["text"], self.holder_needed()
            )
        except (ConversationClosed, NotHolder):
            conversation = await self.conversation(conversation_id, ref)
            await self.check_can_write(conversation, ref)
            if conversation.status is Status.CLOSED:
                raise ProtocolError(
                    "conflict", "this conversation is closed; start a new one", ref
                ) from None
            raise ProtocolError(
                "conflict", "the conversation changed while sending; send again", ref
            ) from None
        self.connection.send_event(events.ack(message, duplicate=not created))
        if created:
            await self._publish_message(message)

    async def _publish_message(self, message: conversations.ChatMessage) -> None:
        named = dataclasses.replace(message, author_name=self.display_name)
        await self.rt.hub.publish(
            queue.conversation_topic(message.conversation_id), events.message(named),
            skip=self.connection,
        )

    async def check_can_write(self, conversation: Conversation, ref: str) -> None:
        """Raise unless this socket may add messages to the conversation."""

    async def on_typing(self, request: protocol.Typing) -> None:
        conversation_id = await self.usable(request["conversation"])
        kind, author_id = await self.author()
        await self.rt.hub.publish(
            queue.conversation_topic(conversation_id),
            {
                "type": "typing",
                "conversation": conversation_id,
                "author": {"kind": kind, "id": author_id, "name": self.display_name},
                "active": request["active"],
            },
            skip=self.connection,
        )

    async def on_receipt(self, request: protocol.Receipt) -> None:
        conversation_id = await self.usable(request["conversation"])
        mark = await conversations.record_receipt(
            self.rt.store, conversation_id, self.role, request["status"], request["seq"]
        )
        if mark is not None:
            await self.rt.hub.publish(
                queue.conversation_topic(conversation_id),
                {
                    "type": "receipt",
                    "conversation": conversation_id,
                    "side": self.role,
                    "status": request["status"],
                    "seq": mark,
                },
                skip=self.connection,
            )

    async def on_sync(self, request: protocol.Sync) -> None:
        conversation = await self.conversation(request["conversation"])
        # Follow first, then read: a message stored in between arrives twice (clients keep
        # one per seq) rather than never.
        await self.rt.hub.follow(self.connection, queue.conversation_topic(conversation.id))
        self.connection.send_event(self.describe(conversation))
        missed = await conversations.messages_after(self.rt.store, conversation.id, request["after"])
        for message in missed:
            self.connection.send_event(events.message(message))
        last = missed[-1].seq if missed else request["after"]
        self.connection.send_event(
            {
                "type": "synced",
                "conversation": conversation.id,
                "last_seq": max(last, 0),
                "more": len(missed) == conversations.SYNC_PAGE,
            }
        )

    def describe(self, conversation: Conversation) -> dict[str, Any]:
        raise NotImplementedError

    def limits(self) -> dict[str, int]:
        return {
            "max_frame_bytes": self.rt.settings.max_frame_bytes,
            "max_text_chars": protocol.MAX_TEXT_CHARS,
        }

    async def settle(
        self, conversation: Conversation, move: Awaitable[Conversation], refusal: str = ""
    ) -> Conversation:
        """Await a status change and announce it; a lost race becomes a conflict error."""
        try:
            changed = await move
        except IllegalTransition as refused:
            raise ProtocolError("conflict", refusal or str(refused), conversation.id) from None
        await queue.announce(self.rt, changed)
        return changed

    async def on_close(self, request: protocol.Close) -> None:
        conversation = await self.conversation(request["conversation"])
        await self.settle(
            conversation,
            conversations.close(self.rt.store, conversation.id, self.close_holder(conversation)),
        )
        # A closed chat frees its agent for the next one in the queue.
        await queue.assign_waiting(self.rt, conversation.site_id)

    def close_holder(self, conversation: Conversation) -> str | None:
        """Return the agent who must still hold the conversation for a close to apply."""
        return None


class VisitorSession(Session):
    role = "visitor"
    allowed = protocol.VISITOR_TYPES

    def __init__(
        self, rt: Runtime, websocket: WebSocket, connection: Connection,
        site: sites.Site, contact_id: str,
    ) -> None:
        super().__init__(rt, websocket, connection)
        self.site = site
        self.contact_id = contact_id
        # Article links in suggestions point at this server's public help centre.
        scheme = "https" if websocket.url.scheme == "wss" else "http"
        self.base_url = f"{scheme}://{websocket.headers.get('host', websocket.url.netloc)}"

    async def may_use(self, conversation: Conversation) -> bool:
        return conversation.contact_id == self.contact_id and conversation.site_id == self.site.id

    async def author(self) -> tuple[Literal["visitor", "agent"], str]:
        return "visitor", self.contact_id

    def describe(self, conversation: Conversation) -> dict[str, Any]:
        return events.conversation_for_visitor(conversation)

    async def welcome(self) -> None:
        await self.rt.hub.follow(self.connection, queue.visitor_topic(self.contact_id))
        await self.rt.hub.follow(self.connection, queue.site_visitors_topic(self.site.id))
        mine = await conversations.find(self.rt.store, contact_id=self.contact_id)
        for conversation in mine:  # the contact's own: a first message needs no read
            self.remember(conversation.id)
        # agents_online, and whether the site is inside its business hours (open_now).
        status = await visitor_status.availability(self.rt.store, self.site)
        self.connection.send_event(
            {
                "type": "welcome",
                "protocol": protocol.VERSION,
                "role": "visitor",
                "you": {"id": self.contact_id},
                "conversations": [events.conversation_for_visitor(c)["conversation"] for c in mine],
                **status,
                "features": list(protocol.FEATURES),
                "heartbeat": HEARTBEAT_SECONDS,
                "limits": self.limits(),
            }
        )

    async def on_start(self, request: protocol.Start) -> None:
        conversation, first, created = await conversations.start(
            self.rt.store, self.site.id, self.contact_id, request["client_id"], request["text"]
        )
        await self.rt.hub.follow(self.connection, queue.conversation_topic(conversation.id))
        self.remember(conversation.id)
        self.connection.send_event(events.ack(first, duplicate=not created))
        if not created:
            return
        await self._publish_message(first)
        # Self-service first: a person is asked for only when no article is good enough.
        if not await self._suggest(conversation.id, first.body, request.get("locale")):
            await self._queue(conversation)

    async def on_sync(self, request: protocol.Sync) -> None:
        await super().on_sync(request)
        conversation = await self.conversation(request["conversation"])
        if conversation.status is Status.NEW:
            # A reloaded page shows the suggestions again rather than a chat with no way on.
            first = await conversations.messages_after(self.rt.store, conversation.id, 0, limit=1)
            if first and not await self._suggest(conversation.id, first[0].body, None):
                await self._queue(conversation)

    async def _suggest(self, conversation_id: str | None, question: str, locale: str | None) -> bool:
        """Send the articles that answer question, if any; tell whether there were some."""
        hits = await self.rt.suggester.suggest(question[: protocol.MAX_QUERY_CHARS], locale)
        if hits or conversation_id is None:
            self.connection.send_event(
                {
                    "type": "suggestions",
                    "conversation": conversation_id,
                    "query": question,
                    "articles": suggestions.as_links(hits, self.base_url),
                }
            )
        return bool(hits)

    async def on_search(self, request: protocol.Search) -> None:
        await self._suggest(None, request["text"], request.get("locale"))
        # What they looked for before asking, for the agent's sidebar.
        await customers.record_search(self.rt.store, self.contact_id, request["text"])

    async def on_resolve(self, request: protocol.Resolve) -> None:
        conversation = await self.conversation(request["conversation"])
        await self.settle(
            conversation, conversations.resolve(self.rt.store, conversation.id),
            "only a conversation no agent has taken yet can be closed as answered by an article",
        )
        await queue.tell_queue(self.rt, conversation.site_id)

    async def on_article(self, request: protocol.Article) -> None:
        conversation_id = request.get("conversation")
        if conversation_id is not None:
            await self.conversation(conversation_id)
        await articles.record_view(
            self.rt.store, self.contact_id, conversation_id, request["locale"], request["slug"]
        )

    async def on_rate(self, request: protocol.Rate) -> None:
        conversation = await self.conversation(request["conversation"])
        rated = await conversations.rate(
            self.rt.store, conversation.id, request["score"], request.get("comment")
        )
        await queue.announce(self.rt, rated)

    async def on_escalate(self, request: protocol.Escalate) -> None:
        await self._queue(await self.conversation(request["conversation"]))

    async def on_leave_email(self, request: protocol.LeaveEmail) -> None:
        chat = request.get("conversation")
        conversation = await self.conversation(chat) if chat else None
        try:
            await handover.leave_email(
                self.rt, self.site, self.contact_id, conversation, request["email"],
                request.get("name"), request.get("text"), request.get("client_id"),
            )
        except TicketError as refused:
            raise ProtocolError(refused.code, refused.message, request.get("client_id")) from None

    async def on_transcript(self, request: protocol.Transcript) -> None:
        conversation = await self.conversation(request["conversation"])
        try:
            sent = await transcripts.send(
                self.rt, self.site, conversation, request["email"], request.get("locale")
            )
        except transcripts.TranscriptError as refused:
            ref = request.get("client_id") or conversation.id
            raise ProtocolError(refused.code, refused.message, ref) from None
        self.connection.send_event(transcripts.confirmation(sent))

    async def _queue(self, conversation: Conversation) -> None:
        await self.settle(conversation, conversations.queue(self.rt.store, conversation.id))
        await queue.assign_waiting(self.rt, conversation.site_id)


class AgentSession(Session):
    role = "agent"
    allowed = protocol.AGENT_TYPES

    def __init__(
        self, rt: Runtime, websocket: WebSocket, connection: Connection, agent: Agent,
        site_ids: list[str],
    ) -> None:
        super().__init__(rt, websocket, connection)
        self.agent = agent
        self.site_ids = site_ids
        self.display_name = agent.name
        self.socket_id = new_id()

    async def may_use(self, conversation: Conversation) -> bool:
        return conversation.site_id in self.site_ids

    async def author(self) -> tuple[Literal["visitor", "agent"], str]:
        return "agent", self.agent.id

    def describe(self, conversation: Conversation) -> dict[str, Any]:
        return events.conversation_for_agents(conversation)

    def holder_needed(self) -> str | None:
        return None if self.agent.role == "admin" else self.agent.id

    async def check_can_write(self, conversation: Conversation, ref: str) -> None:
        if conversation.agent_id != self.agent.id and self.agent.role != "admin":
            raise ProtocolError("forbidden", "accept the conversation before writing in it", ref)

    def close_holder(self, conversation: Conversation) -> str | None:
        if conversation.status is Status.ASSIGNED and self.agent.role != "admin":
            return self.agent.id
        return None

    async def welcome(self) -> None:
        await self.rt.hub.follow(self.connection, hub.agent_topic(self.agent.id))
        for site_id in self.site_ids:
            await self.rt.hub.follow(self.connection, queue.site_topic(site_id))
        await agents.connect(self.rt.store, self.agent.id, self.socket_id, self.rt.process_id)
        open_ones = await conversations.find(self.rt.store, site_ids=self.site_ids)
        self.connection.send_event(
            {
                "type": "welcome",
                "protocol": protocol.VERSION,
                "role": "agent",
                "you": {
                    "id": self.agent.id, "name": self.agent.name, "role": self.agent.role,
                    "availability": self.agent.availability, "max_chats": self.agent.max_chats,
                },
                "sites": self.site_ids,
                "conversations": [events.conversation_for_agents(c)["conversation"]
                                  for c in open_ones],
                "heartbeat": HEARTBEAT_SECONDS,
                "limits": self.limits(),
            }
        )
        await self.announce_presence(self.agent.availability)

    async def goodbye(self) -> None:
        await agents.disconnect(self.rt.store, self.socket_id)
        if not await agents.is_connected(self.rt.store, self.agent.id):
            await self.announce_presence("offline", route=False)

    async def announce_presence(self, status: str, route: bool = True) -> None:
        for site_id in self.site_ids:
            await self.rt.hub.publish(
                queue.site_topic(site_id), events.presence(self.agent.id, self.agent.name, status)
            )
            # Visitors see whether anyone can answer now, to wait or to leave an address.
            await self.rt.hub.publish(
                queue.site_visitors_topic(site_id),
                {"type": "availability", **await visitor_status.availability_of(self.rt.store, site_id)},
            )
            if route and status == "online":
                await queue.assign_waiting(self.rt, site_id)

    async def on_presence(self, request: protocol.Presence) -> None:
        await agents.set_availability(self.rt.store, self.agent.id, request["status"])
        log.info("event=presence agent=%s status=%s", self.agent.id, request["status"])
        await self.announce_presence(request["status"])

    async def on_accept(self, request: protocol.Accept) -> None:
        conversation = await self.conversation(request["conversation"])
        await self.settle(
            conversation,
            conversations.assign(self.rt.store, conversation.id, self.agent.id),
            "the conversation is not in the queue (someone may have taken it)",
        )
        await self.rt.hub.follow(self.connection, queue.conversation_topic(conversation.id))

    async def on_transfer(self, request: protocol.Transfer) -> None:
        conversation = await self.conversation(request["conversation"])
        target = await agents.by_id(self.rt.store, request["agent"])
        if target is None or target.disabled or not await agents.serves(
            self.rt.store, target, conversation.site_id
        ):
            raise ProtocolError("not_found", "no such agent for this site", request["agent"])
        holder = conversation.agent_id if self.agent.role == "admin" else self.agent.id
        await self.settle(
            conversation,
            conversations.transfer(self.rt.store, conversation.id, holder or "", target.id),
            "only the agent holding an assigned conversation can transfer it",
        )
        await queue.assign_waiting(self.rt, conversation.site_id)

    async def on_convert(self, request: protocol.Convert) -> None:
        conversation = await self.conversation(request["conversation"])
        try:
            await handover.convert(self.rt, self.agent, conversation, request.get("subject"))
        except TicketError as refused:
            raise ProtocolError(refused.code, refused.message, conversation.id) from None

    async def on_sync(self, request: protocol.Sync) -> None:
        # Agents also get the chat's private notes, on a topic visitor sockets never follow.
        conversation = await self.conversation(request["conversation"])
        await notes.follow(self.rt, self.connection, conversation.id)
        await super().on_sync(request)

    async def on_note(self, request: protocol.Note) -> None:
        """A private note: any agent of the site, in any chat of it, open or closed."""
        conversation = await self.conversation(request["conversation"], request["client_id"])
        await notes.write(
            self.rt, self.connection, conversation.id, self.agent.id, request["client_id"],
            request["text"],
        )


async def visitor_endpoint(websocket: WebSocket) -> None:
    rt: Runtime = websocket.app.state.runtime
    site = await sites.by_key(rt.store, websocket.query_params.get("site", ""))
    origin = websocket.headers.get("origin")
    if site is None or not sites.origin_allowed(site, origin, websocket.headers.get("host")):
        # Closing before accept answers the handshake with HTTP 403.
        log.info("event=socket_refused role=visitor origin=%s", origin)
        await websocket.close(code=1008)
        return
    await websocket.accept()
    hello = await _hello(websocket, rt)
    if hello is None:
        return
    identity = rt.signer.visitor(hello.get("token", ""))
    if (
        identity is None
        or identity.site_id != site.id
        or not await customers.belongs(rt.store, identity.contact_id, site.id)
    ):
        await _refuse(websocket, "unauthorized", "the visitor token is wrong or expired")
        return
    connection = Connection(websocket)
    session = VisitorSession(rt, websocket, connection, site, identity.contact_id)
    session.display_name = await customers.name(rt.store, identity.contact_id)
    await _serve(rt, session)


async def agent_endpoint(websocket: WebSocket) -> None:
    rt: Runtime = websocket.app.state.runtime
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host", "")
    # Browsers always send Origin; a page on another origin must not ride the agent's cookie.
    if origin and not sites.same_origin(origin, host):
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
    await _serve(rt, AgentSession(rt, websocket, connection, agent, site_ids))


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


async def _serve(rt: Runtime, session: VisitorSession | AgentSession) -> None:
    _forget_handshake(session.websocket)
    try:
        await session.welcome()
        await session.run()
    finally:
        await rt.hub.forget(session.connection)
        await session.connection.drain()
        if isinstance(session, AgentSession):
            await session.goodbye()


def _forget_handshake(websocket: WebSocket) -> None:
    """Drop the request headers (and what Starlette parsed of them) for the socket's life.

    Everything needed from them was read before the session began; kept, they cost each
    idle socket over a kilobyte.
    """
    websocket.scope["headers"] = []
    for parsed in ("_headers", "_cookies", "_query_params", "_url"):
        websocket.__dict__.pop(parsed, None)
