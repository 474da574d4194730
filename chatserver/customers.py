"""Customers: one contact per person and site across channels, what we learn about them,
and the one history of their chats and tickets that every view shows."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chatserver import channels
from chatserver.store import Store, new_id, now_ms
from chatserver.store.schema import (
    article_views,
    blocks,
    channel_users,
    contacts,
    conversations,
    email_proofs,
    messages,
    proactive_shows,
    ratings,
    ticket_entries,
    tickets,
    visitor_searches,
)

MAX_ZONE_CHARS = 64
# Suggest-as-you-type sends "wher", "where is", "where is my parcel" within seconds: a search
# that extends (or trims) the previous one this soon is the same question, stored once.
SAME_QUESTION_MS = 60_000
# The sidebar shows the last few; older ones are pruned as new ones come, so a visitor who
# types all day keeps a bounded number of rows.
KEEP_SEARCHES = 20
# Enough history to recognise a regular without turning the sidebar into a report.
HISTORY_LIMIT = 20


async def create(store: Store, site_id: str) -> str:
    """Create an anonymous contact for a new visitor of the site; return its id."""
    contact_id = new_id()
    async with store.write() as conn:
        await conn.execute(
            insert(contacts).values(id=contact_id, site_id=site_id, created_at=now_ms())
        )
    return contact_id


class ContactError(ValueError):
    """A contact that cannot be made or merged as asked; the message says why."""


# What a merge copies onto the kept contact where it knows nothing yet.
_FILLED = ("name", "email", "external_id", "locale", "page_url", "page_title", "referrer",
           "user_agent", "last_seen_at", "timezone")


async def add(
    store: Store, site_id: str, *, name: str | None, email: str | None, external_id: str | None
) -> str:
    """Create a contact the site's own systems vouch for; ContactError if the external id is taken."""
    contact_id = new_id()
    try:
        async with store.write() as conn:
            await conn.execute(insert(contacts).values(
                id=contact_id, site_id=site_id, name=name, email=email, external_id=external_id,
                created_at=now_ms(),
            ))
    except IntegrityError:
        raise ContactError("a contact with this external_id exists already") from None
    return contact_id


async def merge(store: Store, site_id: str, keep_id: str, gone_id: str) -> None:
    """Fold one contact of the site into another: one person, one history.

    Chats, tickets, their messages and entries, articles read, searches and platform ids
    become the kept contact's; what the kept one does not know (an email, an external id) is
    taken over; the other contact is deleted. LookupError if either is not the site's; ContactError when
    both are different verified users. Resend keys (client ids) that would clash are replaced
    by the row's own id: a start resent after a merge is new, which beats losing a chat.
    """
    async with store.write() as conn:
        rows = {row.id: row for row in await conn.execute(
            select(contacts).where(contacts.c.id.in_([keep_id, gone_id]), contacts.c.site_id == site_id)
        )}
        if keep_id not in rows or gone_id not in rows:
            raise LookupError(gone_id if keep_id in rows else keep_id)
        if keep_id == gone_id:
            raise ContactError("a contact cannot be merged into itself")
        keep, gone = rows[keep_id], rows[gone_id]
        if keep.external_id and gone.external_id and keep.external_id != gone.external_id:
            raise ContactError("both contacts are signed-in users of the site with different ids")
        for table in (conversations, tickets):
            kept_keys = select(table.c.client_id).where(table.c.contact_id == keep_id).scalar_subquery()
            await conn.execute(update(table).where(
                table.c.contact_id == gone_id, table.c.client_id.in_(kept_keys)
            ).values(client_id=table.c.id))
            await conn.execute(update(table).where(table.c.contact_id == gone_id).values(contact_id=keep_id))
        await conn.execute(update(messages).where(
            messages.c.author_kind == "visitor", messages.c.author_id == gone_id
        ).values(author_id=keep_id))
        await conn.execute(update(ticket_entries).where(
            ticket_entries.c.kind == "customer", ticket_entries.c.author_id == gone_id
        ).values(author_id=keep_id))
        for trace in (article_views, visitor_searches, channel_users):
            await conn.execute(update(trace).where(trace.c.contact_id == gone_id).values(contact_id=keep_id))
        # Proactive caps count shows per contact; the kept contact's count stands.
        await conn.execute(delete(proactive_shows).where(proactive_shows.c.contact_id == gone_id))
        # A block of either holds for both; an address either proved stays proved.
        await conn.execute(update(blocks).where(
            blocks.c.site_id == site_id, blocks.c.kind == "contact", blocks.c.value == gone_id
        ).values(value=keep_id))
        # A proof beats a code still waiting for the same address: the kept one's waiting row goes.
        gone_proven = select(email_proofs.c.email).where(
            email_proofs.c.contact_id == gone_id, email_proofs.c.proven_at.is_not(None))
        await conn.execute(delete(email_proofs).where(
            email_proofs.c.contact_id == keep_id, email_proofs.c.proven_at.is_(None),
            email_proofs.c.email.in_(gone_proven)))
        kept_proofs = select(email_proofs.c.email).where(email_proofs.c.contact_id == keep_id)
        await conn.execute(delete(email_proofs).where(
            email_proofs.c.contact_id == gone_id, email_proofs.c.email.in_(kept_proofs)))
        await conn.execute(update(email_proofs).where(email_proofs.c.contact_id == gone_id)
                           .values(contact_id=keep_id))
        await conn.execute(delete(contacts).where(contacts.c.id == gone_id))
        taken = {k: getattr(gone, k) for k in _FILLED
                 if getattr(keep, k) is None and getattr(gone, k) is not None}
        if taken:
            await conn.execute(update(contacts).where(contacts.c.id == keep_id).values(**taken))


@dataclass(frozen=True)
class Known:
    """A contact of a site as a visitor's socket needs it: the name it gave, if any."""

    name: str | None


async def of_site(store: Store, contact_id: str, site_id: str) -> Known | None:
    """Return the contact if it exists and is the site's (one read: a reconnect's first)."""
    found = await store.rows(
        select(contacts.c.name).where(contacts.c.id == contact_id, contacts.c.site_id == site_id))
    return Known(found[0].name) if found else None


async def belongs(store: Store, contact_id: str, site_id: str) -> bool:
    """Tell whether the contact exists and is the site's."""
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(contacts.c.id).where(contacts.c.id == contact_id, contacts.c.site_id == site_id)
            )
        ).first()
    return row is not None


async def identified(
    store: Store, site_id: str, current: str | None, user_id: str, name: str | None,
    email: str | None,
) -> str:
    """Return the contact of a verified site user, claiming the anonymous current one if free.

    The unique key on (site, external id) settles two tabs identifying at once.
    """
    for _ in range(2):
        async with store.write() as conn:
            known = (
                await conn.execute(
                    select(contacts.c.id).where(
                        contacts.c.site_id == site_id, contacts.c.external_id == user_id
                    )
                )
            ).scalar()
            if known is None and current is not None:
                claimed = await conn.execute(
                    update(contacts)
                    .where(contacts.c.id == current, contacts.c.site_id == site_id,
                           contacts.c.external_id.is_(None))
                    .values(external_id=user_id)
                )
                known = current if claimed.rowcount else None
            if known is None:
                known = new_id()
                try:
                    await conn.execute(insert(contacts).values(
                        id=known, site_id=site_id, external_id=user_id, created_at=now_ms()
                    ))
                except IntegrityError:
                    continue  # another tab created it first: look again
            details = {k: v for k, v in (("name", name), ("email", email)) if v}
            if details:
                await conn.execute(update(contacts).where(contacts.c.id == known).values(**details))
            return str(known)
    raise RuntimeError("identity could not be settled")


async def describe(store: Store, contact_id: str, **details: Any) -> None:
    """Record what the visitor told about themselves or their page.

    Name and email change only on anonymous contacts: an unsigned claim never rewrites a
    verified user's details. Nor does it rewrite the address mail came from, which mail
    threads and proofs know the contact by (contact_proof).
    """
    personal = {k: details.pop(k) for k in ("name", "email") if details.get(k)}
    values = {k: v for k, v in details.items() if v is not None}
    anonymous = update(contacts).where(contacts.c.id == contact_id, contacts.c.external_id.is_(None))
    mailed = select(tickets.c.contact_id).where(tickets.c.channel == channels.EMAIL)
    async with store.write() as conn:
        if values:
            await conn.execute(update(contacts).where(contacts.c.id == contact_id).values(**values))
        if "name" in personal:
            await conn.execute(anonymous.values(name=personal["name"]))
        if "email" in personal:
            await conn.execute(anonymous.where(contacts.c.id.not_in(mailed)).values(email=personal["email"]))


def known_timezone(value: Any) -> str | None:
    """Return value if it is an IANA time zone (Europe/Amsterdam), else None.

    Browsers report their zone themselves; one this server does not know (an old tz database)
    is dropped rather than refused, since it must never keep a visitor from chatting.
    """
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ZONE_CHARS or ".." in value:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None
    return value


def local_time(timezone: str | None, at_ms: int) -> str | None:
    """Return "14:05 (Europe/Amsterdam)" for a moment in the visitor's zone, or None."""
    zone = known_timezone(timezone)
    if zone is None:
        return None
    moment = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(zoneinfo.ZoneInfo(zone))
    return f"{moment:%H:%M} ({zone})"


async def record_search(store: Store, contact_id: str, query: str) -> None:
    """Remember what a visitor searched, folding the keystrokes of one question into one row."""
    query = " ".join(query.split())
    if not query:
        return
    async with store.write() as conn:
        last = (await conn.execute(
            select(visitor_searches.c.id, visitor_searches.c.query, visitor_searches.c.created_at)
            .where(visitor_searches.c.contact_id == contact_id)
            .order_by(visitor_searches.c.created_at.desc()).limit(1)
        )).first()
        # Newest first is by time alone, so two searches in one millisecond must not tie.
        now = now_ms() if last is None else max(now_ms(), last.created_at + 1)
        folded = last is not None and now - last.created_at < SAME_QUESTION_MS and (
            query.lower().startswith(last.query.lower()) or last.query.lower().startswith(query.lower())
        )
        if folded and last is not None:
            await conn.execute(update(visitor_searches).where(visitor_searches.c.id == last.id)
                               .values(query=query, created_at=now))
            return
        await conn.execute(insert(visitor_searches).values(
            id=new_id(), contact_id=contact_id, query=query, created_at=now
        ))
        old = select(visitor_searches.c.id).where(visitor_searches.c.contact_id == contact_id) \
            .order_by(visitor_searches.c.created_at.desc()).offset(KEEP_SEARCHES)
        stale = [row.id for row in await conn.execute(old)]
        if stale:
            await conn.execute(delete(visitor_searches).where(visitor_searches.c.id.in_(stale)))


async def searches(store: Store, contact_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """Return what a contact searched, newest first."""
    async with store.read() as conn:
        rows = await conn.execute(
            select(visitor_searches.c.query, visitor_searches.c.created_at)
            .where(visitor_searches.c.contact_id == contact_id)
            .order_by(visitor_searches.c.created_at.desc()).limit(limit)
        )
        return [{"query": row.query, "searched_at": row.created_at} for row in rows]


async def history(
    store: Store, contact_id: str, site_ids: list[str], limit: int = HISTORY_LIMIT
) -> list[dict[str, Any]]:
    """Return a customer's chats and tickets together, newest first: the one history.

    Each entry is {kind, channel, channel_name, id, status, created_at, summary, rating,
    conversation}: kind is chat or ticket; channel, where it came from (chat, email, form,
    api:<name>), with channel_name the integration's name as people write it ("WhatsApp");
    summary is a chat's first message or a ticket's subject; conversation, the chat a ticket
    came from.
    """
    first_text = (
        select(messages.c.body)
        .where(messages.c.conversation_id == conversations.c.id, messages.c.seq == 1)
        .scalar_subquery()
    )
    async with store.read() as conn:
        chats = await conn.execute(
            select(conversations.c.id, conversations.c.status, conversations.c.created_at,
                   conversations.c.channel, first_text.label("summary"),
                   ratings.c.score.label("rating"))
            .select_from(conversations.outerjoin(ratings, ratings.c.conversation_id == conversations.c.id))
            .where(conversations.c.contact_id == contact_id, conversations.c.site_id.in_(site_ids))
            .order_by(conversations.c.created_at.desc())
            .limit(limit)
        )
        items = [
            {"kind": "chat", **_channel(r.channel), "id": r.id, "status": r.status,
             "created_at": r.created_at, "summary": r.summary, "rating": r.rating,
             "conversation": r.id}
            for r in chats
        ]
        mails = await conn.execute(
            select(tickets.c.id, tickets.c.status, tickets.c.created_at, tickets.c.subject,
                   tickets.c.conversation_id, tickets.c.channel)
            .where(tickets.c.contact_id == contact_id, tickets.c.site_id.in_(site_ids))
            .order_by(tickets.c.created_at.desc())
            .limit(limit)
        )
        items += [
            {"kind": "ticket", **_channel(r.channel), "id": r.id, "status": r.status,
             "created_at": r.created_at, "summary": r.subject, "rating": None,
             "conversation": r.conversation_id}
            for r in mails
        ]
    items.sort(key=lambda item: (-int(item["created_at"]), item["id"]))
    return items[:limit]


def _channel(channel: str) -> dict[str, str | None]:
    return {"channel": channel, "channel_name": channels.display_name(channel)}
