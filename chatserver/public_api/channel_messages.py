"""An integration's own channel: its customers' messages in, as chats agents answer in the console.

A bridge to a messaging platform (examples/telegram_bridge.py) posts what a platform user
wrote; the chat core continues that user's open conversation on the channel or opens one
and queues it for a person. Agents' replies and the close go back out as webhooks, whose
payloads carry the channel and the platform's user id (docs/channels.md).
"""

from __future__ import annotations

from typing import Any

from chatserver import channel_users, channels, protocol
from chatserver.api import ApiError
from chatserver.chat import commands
from chatserver.chat.actors import Visitor
from chatserver.mail.addresses import AddressError, check_address
from chatserver.public_api.conversations import CONVERSATION, MESSAGE, describe
from chatserver.public_api.operations import Call, Operation
from chatserver.public_api.shapes import nullable, obj, string

TAG = "channels"

USER = obj({
    "id": string(channel_users.MAX_USER_ID_CHARS, description="the platform's own user id"),
    "name": nullable(string(200)), "email": nullable(string(320)),
}, ("id",))
ARRIVED = obj({
    "conversation": CONVERSATION, "message": MESSAGE,
    "contact": obj({"id": string(64), "created": {"type": "boolean"}}, ("id", "created")),
    "duplicate": {"type": "boolean", "description": "true when client_id was sent before"},
}, ("conversation", "message", "contact", "duplicate"))


def _channel(call: Call) -> str:
    """Return the channel in the path if it is the token's own integration's."""
    try:
        channel = channels.api(call.path["name"])
    except channels.ChannelError as bad:
        raise ApiError(400, "invalid_parameter", str(bad)) from None
    own = channels.of_integration(call.token.name)
    if channel != own:
        raise ApiError(403, "forbidden", f"this token is the integration {own}; "
                       f"it posts to /channels/{channels.integration(own)}/messages")
    return channel


def _blank(value: str, name: str) -> str:
    if not value.strip():
        raise ApiError(400, "invalid_message", f"body.{name} must not be blank")
    return value


async def post_message(call: Call) -> dict[str, Any]:
    channel = _channel(call)
    user, text = call.body["user"], _blank(call.body["text"], "text")
    user_id, client_id = _blank(user["id"], "user.id"), _blank(call.body["client_id"], "client_id")
    name = (user.get("name") or "").strip() or None
    email = user.get("email")
    if email is not None:
        try:
            email = check_address(email)
        except AddressError as bad:
            raise ApiError(400, "invalid_message", f"body.user.email: {bad}") from None
    found = await channel_users.find(call.rt.store, call.site.id, channel, user_id)
    if found is None:
        # A stranger on a channel that is off leaves no contact behind.
        await commands.require_channel(call.rt, call.site.id, channel, client_id)
        contact_id, made = await channel_users.add(call.rt.store, call.site.id, channel, user_id, name, email)
    else:
        contact_id, made = found[0], False
        if name and name != found[1]:
            await channel_users.rename(call.rt.store, contact_id, name)
    customer = Visitor(call.site, contact_id, name or (found[1] if found else None), call.base_url)
    conversation, effects = await commands.arrive(call.rt, customer, channel, client_id, text)
    await call.rt.hub.deliver(effects)
    ack = effects.replies[0]
    return {
        "conversation": describe(conversation),
        "message": {"id": ack["id"], "conversation": conversation.id, "seq": ack["seq"],
                    "author": {"kind": "visitor", "id": contact_id, "name": customer.name},
                    "client_id": client_id, "text": text, "created_at": ack["created_at"]},
        "contact": {"id": contact_id, "created": made},
        "duplicate": ack["duplicate"],
    }


OPERATIONS = [
    Operation(
        "POST", "/channels/{name}/messages", "Post a platform user's message into the integration's channel",
        TAG, "write", post_message, ARRIVED, create=True,
        body=obj({"user": USER, "text": string(protocol.MAX_TEXT_CHARS),
                  "client_id": string(64, description="the platform's message id: a resend is stored once")},
                 ("user", "text", "client_id")),
        description="{name} is the token's own integration (a token named Telegram posts to "
        "/channels/telegram/messages). The user's open conversation on the channel goes on; "
        "else a new one is opened and queued for the site's agents, unless the site has the "
        "channel off (409 channel_off). Replies go out as webhooks (docs/channels.md).",
        errors=(400, 409, 413, 422)),
]
