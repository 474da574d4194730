"""Names of the broker topics: who follows which, and what travels on each (ARCHITECTURE.md)."""

from __future__ import annotations


def site(site_id: str) -> str:
    """Agent sockets of the site: `conversation` (agents' view), `presence`, `ticket`, `sla`, `canned`."""
    return f"site:{site_id}"


def site_visitors(site_id: str) -> str:
    """Every visitor socket of the site: `availability`."""
    return f"site:{site_id}:visitors"


def visitor(contact_id: str) -> str:
    """Every tab of one visitor: `conversation` (visitor's view), `ticket`, `email_proof` (joined)."""
    return f"visitor:{contact_id}"


def conversation(conversation_id: str) -> str:
    """Sockets that started, accepted or synced the conversation: `message`, `typing`, `receipt`."""
    return f"conv:{conversation_id}"


def conversation_agents(conversation_id: str) -> str:
    """Agent sockets that synced the conversation (never a visitor's): `note`."""
    return f"conv:{conversation_id}:agents"


def agent(agent_id: str) -> str:
    """Every socket of one agent: the revoke that closes them (4403)."""
    return f"agent:{agent_id}"


def kind_and_key(topic: str) -> tuple[str, str]:
    """Split a topic into its kind and the id in it: ("conv", id), ("conv_agents", id), ..."""
    kind, _, rest = topic.partition(":")
    key, _, audience = rest.partition(":")
    return (f"{kind}_{audience}" if audience else kind), key
