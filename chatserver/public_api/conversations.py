"""Conversations and their messages: list, read, send as an agent or as the integration, assign, close.

Every write is a chat command (chat/commands.py) whose effects the hub delivers, so the
visitor's widget and the agents' consoles see an API-sent message as they see any other.
"""

from __future__ import annotations

from typing import Any

from chatserver import agents, protocol
from chatserver.api import ApiError
from chatserver.chat import commands, messages
from chatserver.chat import conversations as chats
from chatserver.chat.actors import Actor, Integration, Staff
from chatserver.chat.model import ChatMessage, Conversation, Status
from chatserver.public_api import idempotency, pagination
from chatserver.public_api.operations import Call, Operation, Param, check_id, ident
from chatserver.public_api.shapes import nullable, obj, page, string
from chatserver.store import new_id
from chatserver.store.schema import conversations as table

TAG = "conversations"

_PERSON = nullable(obj({"id": string(64), "name": nullable(string(200))}, closed=False))
CONVERSATION = obj({
    "id": string(64), "site": string(64),
    "status": {"type": "string", "enum": [s.value for s in Status]},
    "agent": _PERSON, "contact": _PERSON, "last_seq": {"type": "integer"},
    "visitor_read_seq": {"type": "integer"}, "created_at": {"type": "integer"},
    "queued_at": nullable({"type": "integer"}), "resolution": nullable(string(16)),
    "rating": nullable(string(8)),
    "channel": string(64, description="where it came from: chat or api:<integration>"),
    "channel_name": nullable(string(64, description="an integration's name as people write it")),
}, ("id", "status", "contact", "last_seq", "created_at"), closed=False)
MESSAGE = obj({
    "id": string(64), "conversation": string(64), "seq": {"type": "integer"},
    "author": obj({"kind": {"type": "string", "enum": ["visitor", "agent", "system", "integration"]},
                   "id": string(64), "name": nullable(string(200))}, closed=False),
    "client_id": string(64), "text": string(protocol.MAX_TEXT_CHARS),
    "created_at": {"type": "integer"},
}, ("id", "conversation", "seq", "author", "text", "created_at"), closed=False)


def describe(c: Conversation) -> dict[str, Any]:
    return dict(protocol.conversation_for_agents(c)["conversation"])


def describe_message(m: ChatMessage) -> dict[str, Any]:
    event = dict(protocol.message(m))
    del event["type"]
    return event


def _integration(call: Call) -> Integration:
    return Integration(call.token.id, call.token.name, call.site.id)


async def acting_agent(call: Call, agent_id: str) -> Staff:
    """Return an agent of the token's site to act as; the same 404 for absent and foreign."""
    agent = await agents.by_id(call.rt.store, check_id(agent_id, "agent_id"))
    if agent is None or agent.disabled or not await agents.serves(call.rt.store, agent, call.site.id):
        raise ApiError(404, "not_found", "no such agent for this site")
    return Staff(agent, [call.site.id])


async def list_conversations(call: Call) -> dict[str, Any]:
    query = chats.listing().where(table.c.site_id == call.site.id)
    if call.query.get("status"):
        query = query.where(table.c.status == call.query["status"])
    if call.query.get("contact"):
        query = query.where(table.c.contact_id == call.query["contact"])
    limit = call.query["limit"]
    query = pagination.keyset(query, (table.c.created_at, table.c.id), call.query.get("cursor"), limit)
    async with call.rt.store.read() as conn:
        found = [chats.from_row(row) for row in await conn.execute(query)]
    return pagination.page(found, limit, lambda c: (c.created_at, c.id), describe)


async def read_conversation(call: Call) -> dict[str, Any]:
    return describe(await commands.usable(call.rt, _integration(call), ident(call, "id")))


async def list_messages(call: Call) -> dict[str, Any]:
    conversation = await commands.usable(call.rt, _integration(call), ident(call, "id"))
    position = pagination.decode(call.query.get("cursor"), [int])
    limit = call.query["limit"]
    found = await messages.after(call.rt.store, conversation.id, position[0] if position else 0, limit + 1)
    return pagination.page(found, limit, lambda m: (m.seq,), describe_message)


def _client_id(call: Call) -> str:
    """Name the message for the chat core's resend check: from the Idempotency-Key when given."""
    if call.idempotency_key is None:
        return "api-" + new_id()
    return idempotency.client_id(call.idempotency_key)


async def send_message(call: Call) -> dict[str, Any]:
    text = call.body["text"]
    if not text.strip():
        raise ApiError(400, "invalid_message", "body.text must not be blank")
    author: Actor
    if call.body.get("as", "integration") == "agent":
        if "agent_id" not in call.body:
            raise ApiError(400, "invalid_message", "body.agent_id is required to send as an agent")
        author = await acting_agent(call, call.body["agent_id"])
    else:
        author = _integration(call)
    conversation_id = ident(call, "id")
    effects = await commands.send(call.rt, author, conversation_id, _client_id(call), text)
    await call.rt.hub.deliver(effects)
    ack = effects.replies[0]
    return {"id": ack["id"], "conversation": conversation_id, "seq": ack["seq"],
            "author": {"kind": author.kind, "id": author.id, "name": author.name},
            "client_id": ack["ref"], "text": text, "created_at": ack["created_at"]}


async def assign(call: Call) -> dict[str, Any]:
    """Give a waiting conversation to an agent, or transfer an assigned one to them."""
    target = await acting_agent(call, call.body["agent_id"])
    current = await commands.usable(call.rt, _integration(call), ident(call, "id"))
    if current.status is Status.ASSIGNED and current.agent_id is not None:
        holder = await acting_agent(call, current.agent_id)
        effects = await commands.transfer(call.rt, holder, current.id, target.agent.id)
    else:
        effects = await commands.accept(call.rt, target, current.id)
    await call.rt.hub.deliver(effects)
    return await read_conversation(call)


async def close(call: Call) -> dict[str, Any]:
    effects = await commands.close(call.rt, _integration(call), ident(call, "id"))
    await call.rt.hub.deliver(effects)
    return await read_conversation(call)


_PAGE = (Param("cursor", pagination.CURSOR, "the next page"),
         Param("limit", pagination.LIMIT, "items per page"))
OPERATIONS = [
    Operation("GET", "/conversations", "List the site's conversations, oldest first", TAG, "read",
              list_conversations, page(CONVERSATION), query=(
                  Param("status", {"type": "string", "enum": [s.value for s in Status]}, "only this status"),
                  Param("contact", string(64), "only this contact's"), *_PAGE)),
    Operation("GET", "/conversations/{id}", "Read a conversation", TAG, "read", read_conversation,
              CONVERSATION),
    Operation("GET", "/conversations/{id}/messages", "List a conversation's messages in order", TAG,
              "read", list_messages, page(MESSAGE), query=_PAGE),
    Operation(
        "POST", "/conversations/{id}/messages", "Send a message, as the integration or as an agent",
        TAG, "write", send_message, MESSAGE, create=True,
        body=obj({"text": string(protocol.MAX_TEXT_CHARS),
                  "as": {"type": "string", "enum": ["integration", "agent"], "default": "integration",
                         "description": "integration: authored by this token, by its name; agent: "
                         "by agent_id, who must hold the conversation (or be an admin)"},
                  "agent_id": string(64)}, ("text",)),
        description="Delivered live to the visitor and the site's agents. The conversation must "
        "not be closed (409).", errors=(400, 404, 409, 422)),
    Operation("POST", "/conversations/{id}/assign", "Give a conversation to an agent (or transfer it)",
              TAG, "write", assign, CONVERSATION, body=obj({"agent_id": string(64)}, ("agent_id",)),
              errors=(400, 404, 409)),
    Operation("POST", "/conversations/{id}/close", "Close a conversation", TAG, "write", close,
              CONVERSATION, errors=(400, 404, 409)),
]
