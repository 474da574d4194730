"""Read one site's stored events into the plain rows the metrics are defined over."""

from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatserver import hours as business_hours
from chatserver.reports import forecast, metrics, sla
from chatserver.sites import Site
from chatserver.store import Store
from chatserver.store.schema import (
    agent_sites,
    agents,
    article_views,
    article_votes,
    articles,
    contacts,
    conversations,
    messages,
    proactive_rules,
    proactive_shows,
    ratings,
    staffing_schedule,
    ticket_entries,
    tickets,
)

WEEK_MS = 7 * 24 * 3600 * 1000


async def _chats(conn: AsyncConnection, site_id: str, start: int, end: int,
                 contact_ids: list[str] | None = None) -> list[metrics.Chat]:
    first_reply = (
        select(messages.c.conversation_id, func.min(messages.c.created_at).label("at"))
        .where(messages.c.author_kind == "agent").group_by(messages.c.conversation_id).subquery()
    )
    first_question = (
        select(messages.c.conversation_id, messages.c.body)
        .where(messages.c.seq == 1).subquery()
    )
    viewed = (
        select(article_views.c.conversation_id, func.count().label("n"))
        .group_by(article_views.c.conversation_id).subquery()
    )
    c = conversations.c
    query = (
        select(c.id, c.contact_id, c.created_at, c.queued_at, first_reply.c.at, c.closed_at,
               c.resolution, c.agent_id, agents.c.name, ratings.c.score, ratings.c.comment,
               first_question.c.body, viewed.c.n)
        .select_from(
            conversations.outerjoin(agents, agents.c.id == c.agent_id)
            .outerjoin(ratings, ratings.c.conversation_id == c.id)
            .outerjoin(first_reply, first_reply.c.conversation_id == c.id)
            .outerjoin(first_question, first_question.c.conversation_id == c.id)
            .outerjoin(viewed, viewed.c.conversation_id == c.id)
        )
        .where(c.site_id == site_id, c.created_at >= start, c.created_at < end)
        .order_by(c.created_at)
    )
    if contact_ids is not None:
        query = query.where(c.contact_id.in_(contact_ids))
    return [
        metrics.Chat(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                     r[11] or "", int(r[12] or 0))
        for r in await conn.execute(query)
    ]


async def _tickets(conn: AsyncConnection, site_id: str, start: int, end: int) -> list[metrics.Ticket]:
    first_reply = (
        select(ticket_entries.c.ticket_id, func.min(ticket_entries.c.created_at).label("at"))
        .where(ticket_entries.c.kind == "agent").group_by(ticket_entries.c.ticket_id).subquery()
    )
    t = tickets.c
    query = (
        select(t.id, t.created_at, first_reply.c.at, t.solved_at, t.assignee_id, agents.c.name,
               t.source)
        .select_from(
            tickets.outerjoin(agents, agents.c.id == t.assignee_id)
            .outerjoin(first_reply, first_reply.c.ticket_id == t.id)
        )
        .where(t.site_id == site_id, t.created_at >= start, t.created_at < end)
        .order_by(t.created_at)
    )
    return [metrics.Ticket(*r) for r in await conn.execute(query)]


async def load(store: Store, site: Site, start: int, end: int, now: int) -> metrics.History:
    """Return the site's chats, tickets, article views, proactive shows and help-centre votes
    created (votes: last changed) in [start, end)."""
    async with store.read() as conn:
        chats = await _chats(conn, site.id, start, end)
        ticket_rows = await _tickets(conn, site.id, start, end)
        views = [
            metrics.ArticleView(*r) for r in await conn.execute(
                select(article_views.c.locale, article_views.c.slug,
                       article_views.c.conversation_id, article_views.c.created_at)
                .select_from(article_views.join(contacts, contacts.c.id == article_views.c.contact_id))
                .where(contacts.c.site_id == site.id, article_views.c.created_at >= start,
                       article_views.c.created_at < end)
            )
        ]
        shows = [
            metrics.Show(*r) for r in await conn.execute(
                select(proactive_shows.c.rule_id, proactive_rules.c.name,
                       proactive_shows.c.contact_id, proactive_shows.c.shown_at)
                .select_from(proactive_shows.join(
                    proactive_rules, proactive_rules.c.id == proactive_shows.c.rule_id))
                .where(proactive_shows.c.site_id == site.id, proactive_shows.c.shown_at >= start,
                       proactive_shows.c.shown_at < end)
            )
        ]
        votes = [
            metrics.Vote(r.locale, r.slug, r.title, bool(r.helpful)) for r in await conn.execute(
                select(article_votes.c.locale, article_votes.c.slug, articles.c.title,
                       article_votes.c.helpful)
                .select_from(article_votes.outerjoin(articles, and_(
                    articles.c.locale == article_votes.c.locale, articles.c.slug == article_votes.c.slug)))
                .where(article_votes.c.site_id == site.id, article_votes.c.updated_at >= start,
                       article_votes.c.updated_at < end)
            )
        ]
        later: list[metrics.Chat] = []
        if shows:
            later = await _chats(conn, site.id, end, end + metrics.CONVERSION_WINDOW_MS,
                                 sorted({s.contact_id for s in shows}))
    hours = site.settings.get("hours")
    return metrics.History(
        chats, ticket_rows, views, shows, sla.targets(site.settings), business_hours.parse(hours),
        business_hours.zone(hours), now, later, votes,
    )


async def forecast_inputs(store: Store, site: Site, weeks: int, now: int) -> forecast.Inputs:
    """Return what the forecast needs, measured over the last `weeks` weeks before now."""
    start = now - weeks * WEEK_MS
    tz = business_hours.zone(site.settings.get("hours"))
    c = conversations.c
    async with store.read() as conn:
        asked = (await conn.execute(
            select(c.queued_at, c.assigned_at, c.closed_at).where(
                c.site_id == site.id, c.queued_at.is_not(None), c.queued_at >= start,
                c.queued_at < now)
        )).all()
        caps = list((await conn.execute(
            select(agents.c.max_chats)
            .select_from(agents.outerjoin(agent_sites, and_(
                agent_sites.c.agent_id == agents.c.id, agent_sites.c.site_id == site.id)))
            .where(agents.c.disabled.is_(False),
                   (agents.c.role == "admin") | (agent_sites.c.site_id.is_not(None)))
        )).scalars())
        scheduled = {
            (r.weekday, r.hour): r.agents for r in await conn.execute(
                select(staffing_schedule).where(staffing_schedule.c.site_id == site.id))
        }
    arrivals: dict[tuple[int, int], int] = {}
    for queued_at, _, _ in asked:
        key = business_hours.hour_of_week(queued_at, tz)
        arrivals[key] = arrivals.get(key, 0) + 1
    handled = [(closed - assigned) / 1000 for _, assigned, closed in asked
               if assigned is not None and closed is not None and closed > assigned]
    return forecast.Inputs(
        weeks, arrivals, forecast.handling_time(handled), forecast.concurrency(caps),
        sla.targets(site.settings).chat_first_response, scheduled,
    )
