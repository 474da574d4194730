"""Every figure the reports show, each by one definition over plain rows. Pure.

docs/metrics.md states each definition in words; the page, the CSV and the JSON all come from
the Table objects built here, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chatserver import hours as business_hours
from chatserver.hours import Hours
from chatserver.reports import sla

# A proactive message converts when the same visitor starts a chat within this long after it.
CONVERSION_WINDOW_MS = 30 * 60 * 1000
TOP_ARTICLES = 10
TOP_GAPS = 10
MAX_COMMENTS = 200

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """One report: named columns and rows of plain values (what CSV and JSON carry)."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class Chat:
    id: str
    contact_id: str
    created_at: int
    queued_at: int | None  # asked for a person
    first_agent_reply_at: int | None
    closed_at: int | None
    resolution: str | None  # "self_served" when an article answered it
    agent_id: str | None
    agent_name: str | None
    rating: str | None  # "good", "bad"
    comment: str | None
    first_question: str
    articles_viewed: int


@dataclass(frozen=True)
class Ticket:
    id: str
    created_at: int
    first_agent_reply_at: int | None
    solved_at: int | None
    assignee_id: str | None
    assignee_name: str | None
    source: str


@dataclass(frozen=True)
class ArticleView:
    locale: str
    slug: str
    conversation_id: str | None
    created_at: int


@dataclass(frozen=True)
class Vote:
    """A help-centre reader's latest answer to "Was this helpful?" for one article."""

    locale: str
    slug: str
    title: str | None  # None once the article is gone
    helpful: bool


@dataclass(frozen=True)
class Show:
    rule_id: str
    rule_name: str
    contact_id: str
    shown_at: int


@dataclass(frozen=True)
class History:
    """The stored events of one site and date range, plus what the definitions need to know."""

    chats: Sequence[Chat]
    tickets: Sequence[Ticket]
    views: Sequence[ArticleView]
    shows: Sequence[Show]
    targets: sla.Targets
    hours: Hours | None
    tz: zoneinfo.ZoneInfo
    now_ms: int
    # Chats by any contact, also just after the range: a show on the last day may convert.
    later_chats: Sequence[Chat] = ()
    votes: Sequence[Vote] = ()


def percentile(values: Iterable[float], p: float) -> float | None:
    """Return the nearest-rank p-th percentile: the smallest value with at least p% at or below."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# Volume -----------------------------------------------------------------------------------


def volume_by_day(h: History) -> Table:
    """Chats started and tickets opened per local day of the site."""
    days: dict[str, list[int]] = {}
    for chats_or_tickets, column in ((h.chats, 0), (h.tickets, 1)):
        for item in chats_or_tickets:
            day = dt.datetime.fromtimestamp(item.created_at / 1000, h.tz).date().isoformat()
            days.setdefault(day, [0, 0])[column] += 1
    return Table("volume", ("day", "chat", "email"),
                 [(day, *counts) for day, counts in sorted(days.items())])


def volume_by_hour(h: History) -> Table:
    """Chats and tickets per hour of the week (site time), all 168 hours."""
    counts = {(d, hr): [0, 0] for d in range(7) for hr in range(24)}
    for column, items in ((0, h.chats), (1, h.tickets)):
        for item in items:
            counts[business_hours.hour_of_week(item.created_at, h.tz)][column] += 1
    return Table("hours", ("weekday", "hour", "chat", "email"),
                 [(business_hours.DAYS[d], hr, *c) for (d, hr), c in counts.items()])


# Response times and SLA ------------------------------------------------------------------


def clocks(h: History) -> list[tuple[sla.Kind, sla.Metric, str, int, int | None]]:
    """List every SLA clock in the range: (kind, metric, subject, start, stop or None if running).

    A chat has clocks only once it asked for a person; self-served chats never do.
    """
    found: list[tuple[sla.Kind, sla.Metric, str, int, int | None]] = []
    for c in h.chats:
        if c.queued_at is None:
            continue
        found.append(("chat", "first_response", c.id, c.queued_at, c.first_agent_reply_at))
        found.append(("chat", "resolution", c.id, c.queued_at, c.closed_at))
    for t in h.tickets:
        found.append(("ticket", "first_response", t.id, t.created_at, t.first_agent_reply_at))
        found.append(("ticket", "resolution", t.id, t.created_at, t.solved_at))
    return found


def response_times(h: History) -> Table:
    """Median and 90th percentile of each clock in business seconds, against its target."""
    rows: list[tuple[Cell, ...]] = []
    kinds: tuple[sla.Kind, ...] = ("chat", "ticket")
    metrics: tuple[sla.Metric, ...] = ("first_response", "resolution")
    for kind in kinds:
        for metric in metrics:
            target = h.targets.of(kind, metric)
            done: list[int] = []
            breaches = 0
            for k, m, _, start, stop in clocks(h):
                if (k, m) != (kind, metric):
                    continue
                if stop is not None:
                    done.append(business_hours.business_ms(start, stop, h.hours))
                if sla.breached(start, stop if stop is not None else h.now_ms, target, h.hours):
                    breaches += 1
            within = sum(1 for ms in done if ms <= target * 1000)
            rows.append((
                kind, metric, len(done), _seconds(percentile(done, 50)),
                _seconds(percentile(done, 90)), target, _share(within, len(done)), breaches,
            ))
    return Table("times", ("kind", "metric", "count", "median_s", "p90_s", "target_s",
                           "within_target", "breaches"), rows)


def breaches(h: History) -> Table:
    """Each clock past its target: stopped late, or still running past it now."""
    rows: list[tuple[Cell, ...]] = []
    for kind, metric, subject, start, stop in clocks(h):
        target = h.targets.of(kind, metric)
        end = stop if stop is not None else h.now_ms
        if sla.breached(start, end, target, h.hours):
            rows.append((kind, metric, subject, target,
                         _seconds(business_hours.business_ms(start, end, h.hours)),
                         "running" if stop is None else "stopped"))
    return Table("breaches", ("kind", "metric", "id", "target_s", "elapsed_s", "clock"), rows)


# Ratings ---------------------------------------------------------------------------------


def ratings(h: History) -> Table:
    """Rated chats, good and bad, and the share good."""
    good = sum(1 for c in h.chats if c.rating == "good")
    bad = sum(1 for c in h.chats if c.rating == "bad")
    with_comment = sum(1 for c in h.chats if c.rating and c.comment)
    return Table("ratings", ("rated", "good", "bad", "share_good", "comments"),
                 [(good + bad, good, bad, _share(good, good + bad), with_comment)])


def comments(h: History) -> Table:
    """The newest rating comments, newest first."""
    rated = sorted((c for c in h.chats if c.rating and c.comment), key=lambda c: -c.created_at)
    return Table("comments", ("conversation", "rating", "comment"),
                 [(c.id, c.rating, c.comment) for c in rated[:MAX_COMMENTS]])


# Self-service ----------------------------------------------------------------------------


def self_service(h: History) -> Table:
    """Chats closed as self-served (an article answered, no agent) out of all chats started."""
    served = sum(1 for c in h.chats if c.resolution == "self_served")
    to_person = sum(1 for c in h.chats if c.queued_at is not None)
    return Table("self_service", ("chats", "self_served", "to_a_person", "share_self_served"),
                 [(len(h.chats), served, to_person, _share(served, len(h.chats)))])


def top_articles(h: History) -> Table:
    """Articles opened most, with how many of those opens were in a chat that was self-served."""
    served = {c.id for c in h.chats if c.resolution == "self_served"}
    opened: Counter[tuple[str, str]] = Counter()
    helped: Counter[tuple[str, str]] = Counter()
    for v in h.views:
        opened[(v.locale, v.slug)] += 1
        if v.conversation_id in served:
            helped[(v.locale, v.slug)] += 1
    ranked = sorted(opened.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ARTICLES]
    return Table("articles", ("locale", "slug", "views", "in_self_served_chats"),
                 [(loc, slug, n, helped[(loc, slug)]) for (loc, slug), n in ranked])


def article_votes(h: History) -> Table:
    """Help-centre articles by "Was this helpful?" answers given in the range, most answered first."""
    counts: dict[tuple[str, str], list[int]] = {}
    titles: dict[tuple[str, str], str | None] = {}
    for v in h.votes:
        tally = counts.setdefault((v.locale, v.slug), [0, 0])
        tally[0 if v.helpful else 1] += 1
        titles[(v.locale, v.slug)] = v.title
    ranked = sorted(counts.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    return Table("votes", ("locale", "slug", "title", "helpful", "not_helpful", "share_helpful"),
                 [(loc, slug, titles[(loc, slug)], yes, no, round(yes / (yes + no), 4))
                  for (loc, slug), (yes, no) in ranked])


def _normalise(question: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", question.lower())).strip()[:120]


def content_gaps(h: History) -> Table:
    """First questions of chats that went to a person without any article opened, most asked first."""
    gaps: Counter[str] = Counter()
    for c in h.chats:
        if c.queued_at is not None and c.articles_viewed == 0 and c.first_question.strip():
            gaps[_normalise(c.first_question)] += 1
    ranked = sorted(gaps.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_GAPS]
    return Table("gaps", ("question", "chats"), [(q, n) for q, n in ranked])


# Agents ----------------------------------------------------------------------------------


@dataclass
class _AgentStats:
    name: str
    chats: int = 0
    tickets: int = 0
    good: int = 0
    bad: int = 0
    chat_fr: list[int] = field(default_factory=list)
    ticket_fr: list[int] = field(default_factory=list)


def per_agent(h: History) -> Table:
    """Per agent: chats they held, tickets assigned, ratings, median first responses."""
    stats: dict[str, _AgentStats] = {}
    for c in h.chats:
        if c.agent_id is None:
            continue
        s = stats.setdefault(c.agent_id, _AgentStats(c.agent_name or c.agent_id))
        s.chats += 1
        s.good += c.rating == "good"
        s.bad += c.rating == "bad"
        if c.queued_at is not None and c.first_agent_reply_at is not None:
            s.chat_fr.append(business_hours.business_ms(c.queued_at, c.first_agent_reply_at, h.hours))
    for t in h.tickets:
        if t.assignee_id is None:
            continue
        s = stats.setdefault(t.assignee_id, _AgentStats(t.assignee_name or t.assignee_id))
        s.tickets += 1
        if t.first_agent_reply_at is not None:
            s.ticket_fr.append(business_hours.business_ms(t.created_at, t.first_agent_reply_at, h.hours))
    rows: list[tuple[Cell, ...]] = [
        (s.name, s.chats, s.tickets, s.good, s.bad, _share(s.good, s.good + s.bad),
         _seconds(percentile(s.chat_fr, 50)), _seconds(percentile(s.ticket_fr, 50)))
        for s in sorted(stats.values(), key=lambda s: s.name.lower())
    ]
    return Table("agents", ("agent", "chats", "tickets", "good", "bad", "share_good",
                            "chat_first_response_median_s", "ticket_first_response_median_s"),
                 rows)


# Proactive chat --------------------------------------------------------------------------


def proactive(h: History) -> Table:
    """Per rule: times shown, and chats that followed a show to the same visitor within 30 minutes.

    A chat counts once, for the latest show before it, so two rules never share one chat.
    """
    by_contact: dict[str, list[Show]] = {}
    for s in sorted(h.shows, key=lambda s: s.shown_at):
        by_contact.setdefault(s.contact_id, []).append(s)
    converted: set[Show] = set()
    for c in (*h.chats, *h.later_chats):
        before = [s for s in by_contact.get(c.contact_id, ())
                  if s.shown_at <= c.created_at <= s.shown_at + CONVERSION_WINDOW_MS]
        if before:
            converted.add(before[-1])
    shown: Counter[tuple[str, str]] = Counter((s.rule_id, s.rule_name) for s in h.shows)
    won: Counter[tuple[str, str]] = Counter((s.rule_id, s.rule_name) for s in converted)
    ranked = sorted(shown.items(), key=lambda kv: (kv[0][1].lower(), kv[0][0]))
    return Table("proactive", ("rule", "shown", "chats", "conversion"),
                 [(name, n, won[(rid, name)], _share(won[(rid, name)], n)) for (rid, name), n in ranked])


REPORTS = {
    "volume": volume_by_day,
    "hours": volume_by_hour,
    "times": response_times,
    "breaches": breaches,
    "ratings": ratings,
    "comments": comments,
    "self_service": self_service,
    "articles": top_articles,
    "votes": article_votes,
    "gaps": content_gaps,
    "agents": per_agent,
    "proactive": proactive,
}
