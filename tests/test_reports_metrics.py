"""Metric definitions on a hand-built event history with answers worked out by hand."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from chatserver import hours as business_hours
from chatserver.reports import metrics, sla
from chatserver.reports.metrics import Chat, History, Show, Ticket

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
# Weekdays 09:00-17:00 in Amsterdam; closed at the weekend.
HOURS = business_hours.parse({"timezone": "Europe/Amsterdam", "days": {
    d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})
TARGETS = sla.Targets(chat_first_response=60, chat_resolution=1800,
                      ticket_first_response=8 * 3600, ticket_resolution=3 * 24 * 3600)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> int:
    """Milliseconds of a local time in the week of Friday 2026-11-20 (Monday is the 23rd)."""
    return int(dt.datetime(2026, 11, day, hour, minute, second, tzinfo=AMS).timestamp() * 1000)


def chat(cid: str, created: int, queued: int | None = None, reply: int | None = None,
         closed: int | None = None, resolution: str | None = None, agent: str | None = None,
         rating: str | None = None, comment: str | None = None, question: str = "",
         views: int = 0, contact: str = "k") -> Chat:
    return Chat(cid, contact, created, queued, reply, closed, resolution, agent,
                agent.title() if agent else None, rating, comment, question, views)


def history(chats: list[Chat], tickets: tuple[Ticket, ...] = (), shows: tuple[Show, ...] = (),
            now: int | None = None) -> History:
    return History(chats, tickets, [], shows, TARGETS, HOURS, AMS, now or at(23, 12))


def test_the_week_of_the_example_starts_on_friday() -> None:
    assert dt.date(2026, 11, 20).weekday() == 4 and dt.date(2026, 11, 23).weekday() == 0


def test_business_time_skips_nights_and_weekends() -> None:
    # Friday 16:59 to Monday 09:01: one minute on Friday, one on Monday.
    assert business_hours.business_ms(at(20, 16, 59), at(23, 9, 1), HOURS) == 120_000
    # A minute of business time after Friday 16:59 ends at closing; 61 s ends on Monday.
    assert business_hours.add_business(at(20, 16, 59), 60_000, HOURS) == at(20, 17, 0)
    assert business_hours.add_business(at(20, 16, 59), 61_000, HOURS) == at(23, 9, 0, 1)
    # Asked on Saturday: the clock starts at Monday's opening.
    assert business_hours.business_ms(at(21, 10), at(23, 9, 30), HOURS) == 30 * 60_000
    # Without business hours, time is time.
    assert business_hours.business_ms(at(20, 16, 59), at(23, 9, 1), None) == (
        at(23, 9, 1) - at(20, 16, 59))


def test_business_hours_keep_the_wall_clock_across_a_dst_change() -> None:
    every_day = business_hours.parse({"timezone": "Europe/Amsterdam", "days": {
        d: ["09:00", "17:00"] for d in business_hours.DAYS}})
    start = int(dt.datetime(2026, 3, 28, tzinfo=AMS).timestamp() * 1000)  # Saturday
    end = int(dt.datetime(2026, 3, 30, tzinfo=AMS).timestamp() * 1000)  # Sunday was 23 hours
    assert business_hours.business_ms(start, end, every_day) == 16 * 3600_000


def test_first_response_across_business_hours_median_p90_and_breaches() -> None:
    h = history([
        # Asked Friday 16:59, answered Monday 09:01: 120 business seconds, past the 60 s target.
        chat("late", at(20, 16, 58), queued=at(20, 16, 59), reply=at(23, 9, 1),
             closed=at(23, 9, 10), agent="ann"),
        # Answered in 30 s, closed 20 minutes after asking: within both targets.
        chat("quick", at(23, 10), queued=at(23, 10), reply=at(23, 10, 0, 30),
             closed=at(23, 10, 20), agent="bob"),
        # Still waiting at noon after 45 s: running, not yet breached.
        chat("waiting", at(23, 11, 59), queued=at(23, 11, 59, 15)),
        # Self-served: never asked for a person, so no SLA clock at all.
        chat("self", at(23, 11), closed=at(23, 11, 2), resolution="self_served"),
    ])
    times = {(r[0], r[1]): r for r in metrics.response_times(h).rows}
    kind, metric, count, median, p90, target, within, breaches = times[("chat", "first_response")]
    assert (count, median, p90, target, within, breaches) == (2, 30.0, 120.0, 60, 0.5, 1)
    # Resolution: late = 1 min Friday + 10 min Monday = 660 s; quick = 1200 s; both < 1800.
    assert times[("chat", "resolution")][2:] == (2, 660.0, 1200.0, 1800, 1.0, 0)
    assert [r[:3] for r in metrics.breaches(h).rows] == [("chat", "first_response", "late")]

    # Two minutes later the waiting chat has run past its target: flagged while running.
    later = history(list(h.chats), now=at(23, 12, 1))
    assert ("chat", "first_response", "waiting", 60, 105.0, "running") in metrics.breaches(later).rows


def test_live_clock_turns_nearing_then_breached_in_business_time() -> None:
    clock = sla.clock("chat", "c", at(20, 16, 59, 30), False, TARGETS, HOURS)
    # 80% of 60 s is 48 s: 30 s on Friday, the other 18 on Monday morning.
    assert clock.nearing_at == at(23, 9, 0, 18) and clock.due_at == at(23, 9, 0, 30)
    assert clock.state(at(22, 12)) == "ok"  # Sunday: closed, the clock stands still
    assert clock.state(at(23, 9, 0, 20)) == "nearing"
    assert clock.state(at(23, 9, 0, 31)) == "breached"
    answered = sla.clock("chat", "c", at(23, 10), True, TARGETS, HOURS)
    assert answered.metric == "resolution" and answered.target_s == 1800


def test_ticket_clocks_run_from_creation() -> None:
    h = history([], tickets=(
        # Created Friday 15:00, answered Monday 14:00: 2 h + 5 h = 7 h, within 8 h.
        Ticket("t1", at(20, 15), at(23, 14), None, "ann", "Ann", "email"),
        # Created Friday 09:00, no answer by Monday 12:00: 8 h + 3 h = 11 h, breached.
        Ticket("t2", at(20, 9), None, None, None, None, "offline_form"),
    ))
    times = {(r[0], r[1]): r for r in metrics.response_times(h).rows}
    assert times[("ticket", "first_response")][2:] == (1, 25200.0, 25200.0, 28800, 1.0, 1)


def test_self_service_share_ratings_and_gaps() -> None:
    h = history([
        chat("a", at(23, 9), resolution="self_served", closed=at(23, 9, 1), views=1),
        chat("b", at(23, 9, 5), resolution="self_served", closed=at(23, 9, 6), views=2),
        chat("c", at(23, 9, 10), queued=at(23, 9, 10), question="Where is my REFUND??",
             agent="ann", rating="good", comment="fast"),
        chat("d", at(23, 9, 20), queued=at(23, 9, 20), question="where is my refund",
             agent="ann", rating="bad"),
        chat("e", at(23, 9, 30), queued=at(23, 9, 30), question="cancel order", views=1),
    ])
    assert metrics.self_service(h).rows == [(5, 2, 3, 0.4)]
    assert metrics.ratings(h).rows == [(2, 1, 1, 0.5, 1)]
    assert metrics.comments(h).rows == [("c", "good", "fast")]
    # "cancel order" read an article before asking: not a gap. The refund question is, twice.
    assert metrics.content_gaps(h).rows == [("where is my refund", 2)]
    agents = metrics.per_agent(h).rows
    assert agents == [("Ann", 2, 0, 1, 1, 0.5, None, None)]


def test_volume_counts_per_day_and_hour_of_week_in_site_time() -> None:
    h = history([chat("a", at(20, 23, 30)), chat("b", at(23, 9))],
                tickets=(Ticket("t", at(23, 9, 30), None, None, None, None, "email"),))
    assert metrics.volume_by_day(h).rows == [("2026-11-20", 1, 0), ("2026-11-23", 1, 1)]
    hours = {(r[0], r[1]): r[2:] for r in metrics.volume_by_hour(h).rows}
    assert len(hours) == 168 and hours[("fri", 23)] == (1, 0) and hours[("mon", 9)] == (1, 1)


def test_proactive_conversions_count_chats_within_30_minutes() -> None:
    shows = (Show("r1", "Cart idle", "k1", at(23, 10)), Show("r1", "Cart idle", "k2", at(23, 10)),
             Show("r1", "Cart idle", "k3", at(23, 10)))
    h = history([chat("a", at(23, 10, 5), contact="k1"), chat("b", at(23, 11), contact="k2")],
                shows=shows)
    assert metrics.proactive(h).rows == [("Cart idle", 3, 1, 0.3333)]


def test_percentile_is_nearest_rank() -> None:
    assert metrics.percentile([], 50) is None
    assert metrics.percentile([5], 90) == 5
    assert metrics.percentile([1, 2, 3, 4], 50) == 2
    assert metrics.percentile(range(1, 11), 90) == 9
