"""Business hours: is a site open at a given moment, and when does that change. Pure.

A site's hours are its `hours` setting (site_settings.py): None (always open) or
{"timezone": "Europe/Amsterdam", "days": {"mon": ["09:00", "17:00"], ...}}, one span a day,
start before end, in the site's time zone. The widget shows the answer (sockets.py sends it
to visitors); reports can use the same functions to count time inside business hours.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Far enough to find the next opening of a site open one day a week, with a day to spare
# for the time-zone offset.
LOOKAHEAD_DAYS = 8


@dataclass(frozen=True)
class Opening:
    """Whether a site is open now, and the moment (ms since the epoch) that changes, if ever."""

    open: bool
    next_change_ms: int | None

    def change_in_seconds(self, now_ms: int) -> int | None:
        """Return whole seconds from now_ms until the change (at least 1), or None."""
        if self.next_change_ms is None:
            return None
        return max(1, -(-(self.next_change_ms - now_ms) // 1000))


def _zone(hours: dict[str, Any]) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(str(hours.get("timezone", "")))
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None


def _spans(hours: dict[str, Any], zone: zoneinfo.ZoneInfo, first: date) -> list[tuple[datetime, datetime]]:
    """Return the open spans from the day first on, as aware UTC datetimes, in order."""
    days = hours.get("days") or {}
    spans = []
    for offset in range(-1, LOOKAHEAD_DAYS):
        day = first + timedelta(days=offset)
        span = days.get(DAYS[day.weekday()])
        if not span:
            continue
        start, end = (time.fromisoformat(span[0]), time.fromisoformat(span[1]))
        # Wall-clock times in a DST gap or overlap resolve as zoneinfo does (fold=0): a span
        # that starts at 02:30 on a spring-forward night opens at 03:30, as the clock says.
        spans.append(
            (datetime.combine(day, start, zone).astimezone(UTC),
             datetime.combine(day, end, zone).astimezone(UTC))
        )
    return spans


def opening(hours: dict[str, Any] | None, at: datetime) -> Opening:
    """Tell whether a site with these hours is open at `at` (aware), and when that changes.

    No hours, or hours that cannot be read (an unknown time zone, no open day), mean always
    open: a site is never shown as closed by a setting the console would have refused.
    """
    if not hours:
        return Opening(True, None)
    zone = _zone(hours)
    if zone is None:
        return Opening(True, None)
    at = at.astimezone(UTC)
    try:
        spans = _spans(hours, zone, at.astimezone(zone).date())
    except (TypeError, ValueError, IndexError):
        return Opening(True, None)
    if not spans:
        return Opening(True, None)
    for start, end in spans:
        if start <= at < end:
            return Opening(True, _ms(end))
        if at < start:
            return Opening(False, _ms(start))
    # Every span of the coming week lies behind us: only possible with a lookahead too short.
    return Opening(False, None)


def is_open(hours: dict[str, Any] | None, at: datetime) -> bool:
    """Tell whether a site with these hours is open at `at` (an aware datetime)."""
    return opening(hours, at).open


def opening_at_ms(hours: dict[str, Any] | None, at_ms: int) -> Opening:
    """opening() for a time in milliseconds since the epoch, as the store keeps times."""
    return opening(hours, datetime.fromtimestamp(at_ms / 1000, UTC))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def for_visitors(hours: dict[str, Any] | None, now_ms: int) -> dict[str, Any]:
    """Return the keys the visitor's welcome and availability carry: open_now, next_change_in."""
    found = opening_at_ms(hours, now_ms)
    return {"open_now": found.open, "next_change_in": found.change_in_seconds(now_ms)}
