"""Agents: accounts, the sites they serve, availability and live presence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver import auth
from chatserver.chat.pairing import Candidate
from chatserver.mail import addresses
from chatserver.recent_reads import RecentReads
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import agent_sites, agents, conversations, presence, sites

Role = Literal["admin", "agent"]
ROLES: tuple[Role, ...] = ("admin", "agent")
DEFAULT_MAX_CHATS = 5
# A process refreshes its sockets' presence rows every PRESENCE_REFRESH_SECONDS; a row not
# refreshed for PRESENCE_TTL_SECONDS (a killed process) no longer makes its agent online.
PRESENCE_REFRESH_SECONDS = 10.0
PRESENCE_TTL_SECONDS = 30.0



@dataclass(frozen=True)
class Agent:
    id: str
    email: str
    name: str
    role: Role
    max_chats: int
    availability: str
    disabled: bool


ANSWERING_SECONDS = 1.0
_answering: RecentReads[str, bool] = RecentReads(ANSWERING_SECONDS)


@asynccontextmanager
async def _changing(store: Store) -> AsyncIterator[AsyncConnection]:
    """A write to agents, their sites or presence: what answering() kept is stale after it."""
    try:
        async with store.write() as conn:
            yield conn
    finally:
        _answering.forget()


def _agent(row: Any) -> Agent:
    return Agent(row.id, row.email, row.name, row.role, row.max_chats, row.availability,
                 row.disabled)


def check_email(email: str) -> str:
    """Return the email lower-cased; raise ValueError if it is not an address."""
    return addresses.check_address(email).lower()


def check_name(name: str) -> str:
    """Return the display name trimmed; raise ValueError if it is empty or too long."""
    if not name.strip() or len(name.strip()) > 200:
        raise ValueError("name must be 1-200 characters")
    return name.strip()


async def create(
    store: Store,
    email: str,
    name: str,
    password: str,
    role: Role = "agent",
    max_chats: int = DEFAULT_MAX_CHATS,
    site_ids: list[str] | None = None,
) -> Agent:
    """Create an agent serving site_ids (every site when None); raise ValueError on bad input."""
    email = check_email(email)
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not 1 <= max_chats <= 50:
        raise ValueError("max chats must be from 1 to 50")
    name = check_name(name)
    password_hash = auth.hash_password(password)
    agent = Agent(new_id(), email, name, role, max_chats, "online", False)
    async with _changing(store) as conn:
        if (await conn.execute(select(agents.c.id).where(agents.c.email == email))).first():
            raise ValueError(f"an agent with email {email} already exists")
        await conn.execute(
            insert(agents).values(
                id=agent.id, email=email, name=agent.name, password_hash=password_hash,
                role=role, max_chats=max_chats, availability="online", disabled=False,
                created_at=now_ms(),
            )
        )
        if site_ids is None:
            site_ids = list((await conn.execute(select(sites.c.id))).scalars())
        if site_ids:
            await conn.execute(
                insert(agent_sites), [{"agent_id": agent.id, "site_id": s} for s in site_ids]
            )
    return agent


async def all_agents(store: Store) -> list[Agent]:
    """Return every agent, oldest first."""
    async with store.read() as conn:
        rows = await conn.execute(select(agents).order_by(agents.c.created_at, agents.c.id))
        return [_agent(row) for row in rows]


async def by_id(store: Store, agent_id: str) -> Agent | None:
    """Return one agent, or None."""
    async with store.read() as conn:
        row = (await conn.execute(select(agents).where(agents.c.id == agent_id))).first()
    return _agent(row) if row else None


async def authenticate(store: Store, email: str, password: str) -> Agent | None:
    """Return the enabled agent with this email and password, or None."""
    async with store.read() as conn:
        row = (
            await conn.execute(select(agents).where(agents.c.email == email.strip().lower()))
        ).first()
    # Verify against a dummy hash for unknown emails so both answers take the same time.
    ok = auth.verify_password(row.password_hash if row else None, password)
    if not row or not ok or row.disabled:
        return None
    return _agent(row)


async def site_ids(store: Store, agent: Agent) -> list[str]:
    """Return the ids of the sites the agent serves (admins serve them all)."""
    query = (
        select(sites.c.id)
        if agent.role == "admin"
        else select(agent_sites.c.site_id).where(agent_sites.c.agent_id == agent.id)
    )
    async with store.read() as conn:
        return list((await conn.execute(query)).scalars())


async def serves(store: Store, agent: Agent, site_id: str) -> bool:
    """Tell whether the agent may see and act on the site's conversations."""
    return site_id in await site_ids(store, agent)


async def set_availability(store: Store, agent_id: str, availability: str) -> None:
    """Record the availability the agent chose (online, away, offline)."""
    async with _changing(store) as conn:
        await conn.execute(
            update(agents).where(agents.c.id == agent_id).values(availability=availability)
        )


async def connect(store: Store, agent_id: str, socket_id: str, process_id: str) -> None:
    """Record a live socket of the agent, so routing sees them connected."""
    async with _changing(store) as conn:
        await conn.execute(
            insert(presence).values(
                socket_id=socket_id, agent_id=agent_id, process_id=process_id, seen_at=now_ms()
            )
        )


async def disconnect(store: Store, socket_id: str) -> None:
    """Forget a socket that closed."""
    async with _changing(store) as conn:
        await conn.execute(delete(presence).where(presence.c.socket_id == socket_id))


async def forget_presence(store: Store, agent_id: str) -> None:
    """Forget every socket of an agent being signed out everywhere, before they close."""
    async with _changing(store) as conn:
        await conn.execute(delete(presence).where(presence.c.agent_id == agent_id))


async def refresh_presence(store: Store, process_id: str) -> None:
    """Mark this process's sockets as still alive and drop rows of processes long gone."""
    now = now_ms()
    async with _changing(store) as conn:
        await conn.execute(
            update(presence).where(presence.c.process_id == process_id).values(seen_at=now)
        )
        await conn.execute(
            delete(presence).where(presence.c.seen_at < now - 10 * PRESENCE_TTL_SECONDS * 1000)
        )


async def is_connected(store: Store, agent_id: str) -> bool:
    """Tell whether the agent has a live socket on any process."""
    fresh = now_ms() - int(PRESENCE_TTL_SECONDS * 1000)
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(presence.c.socket_id)
                .where(presence.c.agent_id == agent_id, presence.c.seen_at >= fresh)
                .limit(1)
            )
        ).first()
    return row is not None


async def candidates(store: Store, site_id: str) -> list[Candidate]:
    """Return the agents who can be given a chat of the site now: online, connected, enabled."""
    return await _working(store, site_id, ("online",))


async def answering(store: Store, site_id: str) -> bool:
    """Tell whether anyone can answer a chat of the site now: connected and online or away.

    Away agents get no chats assigned but see the queue and take chats by hand, so a visitor
    is told someone may answer, never "nobody is online" while a chat sits before an agent.
    """
    # Every visitor's welcome asks, thousands a second after a restart: the answer read in
    # the last ANSWERING_SECONDS serves. This process's own changes forget it at once;
    # another's reach new visitors within that time (open widgets are told by a frame).
    async def read() -> bool:
        return bool(await _working(store, site_id, ("online", "away")))

    return await _answering.get(site_id, read)


async def _working(store: Store, site_id: str, availabilities: tuple[str, ...]) -> list[Candidate]:
    fresh = now_ms() - int(PRESENCE_TTL_SECONDS * 1000)
    connected = select(presence.c.agent_id).where(presence.c.seen_at >= fresh)
    member = select(agent_sites.c.agent_id).where(agent_sites.c.site_id == site_id)
    open_chats = (
        select(func.count())
        .select_from(conversations)
        .where(conversations.c.agent_id == agents.c.id, conversations.c.status == "assigned")
        .scalar_subquery()
    )
    query = select(agents.c.id, agents.c.max_chats, open_chats.label("open_chats")).where(
        agents.c.disabled.is_(False),
        agents.c.availability.in_(availabilities),
        agents.c.id.in_(connected),
        (agents.c.role == "admin") | agents.c.id.in_(member),
    )
    return [Candidate(r.id, r.max_chats, r.open_chats) for r in await store.rows(query)]


async def change(
    store: Store,
    agent_id: str,
    *,
    role: Role | None = None,
    max_chats: int | None = None,
    disabled: bool | None = None,
    password: str | None = None,
    name: str | None = None,
    site_ids: list[str] | None = None,
) -> None:
    """Change an agent's account; raise ValueError on bad input (nothing is stored then).

    site_ids replaces the sites the agent serves (admins serve every site whatever it says).
    """
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = check_name(name)
    if role is not None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        values["role"] = role
    if max_chats is not None:
        if not 1 <= max_chats <= 50:
            raise ValueError("max chats must be from 1 to 50")
        values["max_chats"] = max_chats
    if disabled is not None:
        values["disabled"] = disabled
    if password is not None:
        values["password_hash"] = auth.hash_password(password)
    if not values and site_ids is None:
        return
    async with _changing(store) as conn:
        if values:
            await conn.execute(update(agents).where(agents.c.id == agent_id).values(**values))
        if site_ids is not None:
            known = set((await conn.execute(select(sites.c.id))).scalars())
            if not set(site_ids) <= known:
                raise ValueError("no such site")
            await conn.execute(delete(agent_sites).where(agent_sites.c.agent_id == agent_id))
            if site_ids:
                await conn.execute(insert(agent_sites),
                                   [{"agent_id": agent_id, "site_id": s} for s in dict.fromkeys(site_ids)])


async def member_sites(store: Store, agent_id: str) -> list[str]:
    """Return the ids of the sites the agent was given (admins serve all sites besides)."""
    async with store.read() as conn:
        return list((await conn.execute(
            select(agent_sites.c.site_id).where(agent_sites.c.agent_id == agent_id))).scalars())


async def signed_in(
    store: Store, signer: auth.Signer, cookie: str | None
) -> tuple[Agent, str] | None:
    """Return the enabled agent and session id behind a session cookie, or None."""
    session_id = signer.session_id(cookie) if cookie else None
    agent_id = await auth.session_agent(store, session_id) if session_id else None
    agent = await by_id(store, agent_id) if agent_id else None
    if agent is None or agent.disabled or session_id is None:
        return None
    return agent, session_id
