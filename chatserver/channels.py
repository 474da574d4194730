"""Channels: where a conversation or a ticket came from, and which ones a site takes. Pure.

A channel is one of `chat` (the widget), `email`, `form` (the web contact form) or
`api:<integration>` (a named integration through the public API, `api:telegram`). Every
conversation and ticket stores the channel it came from, and the customer history shows it.

A site switches channels on and off in its settings (`settings["channels"]`, a map from
channel to true or false). A channel that is off refuses new conversations and tickets; what
is stored stays, and replies to an existing ticket keep threading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

CHAT = "chat"
EMAIL = "email"
FORM = "form"
API_PREFIX = "api:"
BUILT_IN = (CHAT, EMAIL, FORM)
# The widget, mail and the contact form work out of the box; an integration's channel is off
# until the integration switches it on (it has nothing to take before it exists).
DEFAULTS: dict[str, bool] = {CHAT: True, EMAIL: True, FORM: True}
# The code of the error every door answers when its channel is off.
OFF_CODE = "channel_off"

# An integration's name: what a site owner types, short and safe in a URL, a log and a class.
_INTEGRATION = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# How well-known integrations spell themselves; any other is capitalised.
_SPELLING = {"whatsapp": "WhatsApp", "sms": "SMS", "imessage": "iMessage", "linkedin": "LinkedIn"}


class ChannelError(ValueError):
    """A channel name that is not one; the message says what a channel looks like."""


class ChannelOff(Exception):
    """A new conversation on a channel the site has switched off."""

    def __init__(self, channel: str) -> None:
        super().__init__(refusal(channel))
        self.channel = channel
        self.code = OFF_CODE


def parse(value: object) -> str:
    """Return value as a channel name (trimmed, lower case); raise ChannelError otherwise."""
    if not isinstance(value, str):
        raise ChannelError("a channel is a string")
    name = value.strip().lower()
    if name in BUILT_IN:
        return name
    if name.startswith(API_PREFIX) and _INTEGRATION.fullmatch(name[len(API_PREFIX):]):
        return name
    raise ChannelError(
        f"{value!r} is not a channel: use chat, email, form or api:<name> "
        "(1-40 lower-case letters, digits, - or _)"
    )


def api(integration: str) -> str:
    """Return the channel of a named integration: api("telegram") is "api:telegram"."""
    return parse(API_PREFIX + integration)


def of_integration(name: str) -> str:
    """Return the channel of an integration known by a free-form name (an API token's,
    "Order system" is api:order-system)."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-_")[:40] or "api"
    return api(slug)


def integration(channel: str) -> str | None:
    """Return the integration's name of an api: channel, else None."""
    return channel[len(API_PREFIX):] if channel.startswith(API_PREFIX) else None


def display_name(channel: str) -> str | None:
    """Return how an integration is written for people ("WhatsApp"); None for built-in ones."""
    name = integration(channel)
    if name is None:
        return None
    return _SPELLING.get(name, name.replace("_", " ").replace("-", " ").title())


def switches(settings: Mapping[str, Any]) -> dict[str, bool]:
    """Return every channel the site has a switch for, with the defaults filled in."""
    stored = settings.get("channels")
    merged = dict(DEFAULTS)
    if isinstance(stored, Mapping):
        merged.update({str(k): v is True for k, v in stored.items()})
    return merged


def is_on(settings: Mapping[str, Any], channel: str) -> bool:
    """Tell whether the site takes new conversations on this channel."""
    return switches(settings).get(parse(channel), False)


def check(settings: Mapping[str, Any], channel: str) -> None:
    """Raise ChannelOff unless the site takes new conversations on this channel."""
    if not is_on(settings, channel):
        raise ChannelOff(channel)


def switched(
    settings: Mapping[str, Any], on: Iterable[str] = (), off: Iterable[str] = ()
) -> dict[str, bool]:
    """Return the site's channel switches with some turned on and others off; validated.

    Naming a channel in both is a mistake, not a toggle: it raises ChannelError.
    """
    turn_on, turn_off = {parse(c) for c in on}, {parse(c) for c in off}
    both = turn_on & turn_off
    if both:
        raise ChannelError(f"{', '.join(sorted(both))}: switched on and off at once")
    result = switches(settings)
    result.update(dict.fromkeys(turn_on, True))
    result.update(dict.fromkeys(turn_off, False))
    return result


def refusal(channel: str) -> str:
    """Return the message a refused newcomer reads: which channel is off, and what is kept."""
    words = {CHAT: "chat", EMAIL: "email", FORM: "the contact form"}
    name = words.get(channel) or display_name(channel) or channel
    return f"this site does not take new conversations by {name} just now; nothing stored is lost"

