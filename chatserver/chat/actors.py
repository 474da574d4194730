"""Who acts: a visitor, an agent or an integration; what each may see and where each may write.

A transport makes one actor per socket (or per request) and hands it to every command. The
actor carries the facts access rests on, which never change during its life (a visitor's
site and contact, an agent's sites as read at connect), and remembers the conversations it
was already allowed, so a socket's next message reads nothing from the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Literal

from chatserver.agents import Agent
from chatserver.chat.model import Conversation, Status
from chatserver.sites import Site

# Hears a topic from now on: a socket's transport follows it; an HTTP request ignores it.
Follow = Callable[[str], Awaitable[None]]

# Conversations one actor remembers it may use; a visitor has a handful, an agent a few
# dozen a day. Past this the memory is dropped and rebuilt from the store.
KNOWN_KEPT = 64


async def _deaf(topic: str) -> None:
    return None


class Actor:
    """Someone who acts on conversations through a command."""

    __slots__ = ("follow", "_known")
    kind: Literal["visitor", "agent", "integration"]

    def __init__(self, follow: Follow = _deaf) -> None:
        self.follow = follow
        self._known: set[str] | None = None  # made on first use: most idle sockets never need it

    @property
    def id(self) -> str:
        raise NotImplementedError

    @property
    def name(self) -> str | None:
        return None

    def may_use(self, conversation: Conversation) -> bool:
        raise NotImplementedError

    def knows(self, conversation_id: str) -> bool:
        return self._known is not None and conversation_id in self._known

    def remember(self, conversation_id: str) -> None:
        """Keep the yes. Status and holder do change: they are checked where they matter."""
        if self._known is None or len(self._known) >= KNOWN_KEPT:
            self._known = set()
        self._known.add(conversation_id)

    def holder_needed(self) -> str | None:
        """Return the agent who must hold a conversation for this actor to write in it."""
        return None

    def only_site(self) -> str | None:
        """Return the one site whose conversations this actor can be in, if there is one."""
        return None

    def may_write(self, conversation: Conversation) -> bool:
        return True

    def close_holder(self, conversation: Conversation) -> str | None:
        """Return the agent who must still hold the conversation for this actor's close."""
        return None


class Visitor(Actor):
    """A visitor of one site, known by their contact; sees only their own conversations."""

    __slots__ = ("site", "contact_id", "display_name", "base_url", "host", "network")
    kind = "visitor"

    def __init__(
        self, site: Site, contact_id: str, display_name: str | None, base_url: str,
        follow: Follow = _deaf, host: IPv4Address | IPv6Address | None = None, network: str | None = None,
    ) -> None:
        super().__init__(follow)
        self.site = site
        self.contact_id = contact_id
        self.display_name = display_name
        # Article links in suggestions point at this server's public help centre.
        self.base_url = base_url
        # Where the visitor's socket comes from: checked against blocks, counted by limits.
        self.host = host
        self.network = network

    @property
    def id(self) -> str:
        return self.contact_id

    @property
    def name(self) -> str | None:
        return self.display_name

    def may_use(self, conversation: Conversation) -> bool:
        return conversation.contact_id == self.contact_id and conversation.site_id == self.site.id

    def only_site(self) -> str | None:
        return self.site.id


class Staff(Actor):
    """An agent (or admin) at work on the conversations of the sites they serve.

    Admins may write in, transfer and close any chat of their sites (a supervisor stepping
    in); other agents only what they hold.
    """

    __slots__ = ("agent", "site_ids", "socket_id")
    kind = "agent"

    def __init__(
        self, agent: Agent, site_ids: list[str], socket_id: str = "", follow: Follow = _deaf
    ) -> None:
        super().__init__(follow)
        self.agent = agent
        self.site_ids = site_ids
        self.socket_id = socket_id  # names this socket's presence row

    @property
    def id(self) -> str:
        return self.agent.id

    @property
    def name(self) -> str | None:
        return self.agent.name

    @property
    def admin(self) -> bool:
        return self.agent.role == "admin"

    def may_use(self, conversation: Conversation) -> bool:
        return conversation.site_id in self.site_ids

    def holder_needed(self) -> str | None:
        return None if self.admin else self.agent.id

    def may_write(self, conversation: Conversation) -> bool:
        return self.admin or conversation.agent_id == self.agent.id

    def close_holder(self, conversation: Conversation) -> str | None:
        if conversation.status is Status.ASSIGNED and not self.admin:
            return self.agent.id
        return None

    def only_site(self) -> str | None:
        return self.site_ids[0] if len(self.site_ids) == 1 else None


class Integration(Actor):
    """A site's own system acting through the public API with one of the site's API tokens.

    It writes as itself (its messages' author is the token, by the token's name), in any
    conversation of its site that is still open, and may close one: what the token's scopes
    allow is decided at the API's door, not here.
    """

    __slots__ = ("token_id", "token_name", "site_id")
    kind = "integration"

    def __init__(self, token_id: str, token_name: str, site_id: str) -> None:
        super().__init__()
        self.token_id = token_id
        self.token_name = token_name
        self.site_id = site_id

    @property
    def id(self) -> str:
        return self.token_id

    @property
    def name(self) -> str | None:
        return self.token_name

    @property
    def site_ids(self) -> list[str]:
        return [self.site_id]

    def may_use(self, conversation: Conversation) -> bool:
        return conversation.site_id == self.site_id

    def only_site(self) -> str | None:
        return self.site_id
