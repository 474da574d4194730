"""Business hours, the one place they are read: open or closed at a moment and when that
changes (for visitors), business time elapsed and deadlines (for SLAs and reports). Pure.

A site's hours are its `hours` setting (site_settings.py): None (always open) or
{"timezone": "Europe/Amsterdam", "days": {"mon": ["09:00", "17:00"], ...}}, one span a day,
start before end, in the site's time zone. Opening times are local, so a day with a
daylight-saving change is still open from 09:00 to 17:00 on the clock on the wall. Hours that
cannot be read (an unknown time zone, a malformed span) mean always open: a site is never
shown as closed by a setting the console would have refused.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A deadline further away than this many days of calendar is not searched for: a site open
# one hour a week reaches a 30-day ticket target in about 5 years, which is no deadline.
MAX_SEARCH_DAYS = 800
# Far enough to find the next opening of a site open one day a week, with a day to spare
# for the time-zone offset.
LOOKAHEAD_DAYS = 8


@dataclass(frozen=True)
class Hours:
    """Opening times per weekday (0 is Monday) in minutes after local midnight."""

    zone: zoneinfo.ZoneInfo
    days: dict[int, tuple[int, int]]


def parse(hours: dict[str, Any] | None) -> Hours | None:
    """Return a site's business hours from its settings, or None when it is always open."""
    if not hours or not hours.get("days"):
        return None
    try:
        days: dict[int, tuple[int, int]] = {}
        for name, (start, end) in hours["days"].items():
            days[DAYS.index(name)] = (_minutes(start), _minutes(end))
        return Hours(zoneinfo.ZoneInfo(hours.get("timezone") or "UTC"), days)
    except (TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None


def zone(hours: dict[str, Any] | None) -> zoneinfo.ZoneInfo:
    """Return the site's time zone: the one of its business hours, else UTC."""
    try:
        return zoneinfo.ZoneInfo((hours or {}).get("timezone") or "UTC")
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return zoneinfo.ZoneInfo("UTC")


def _minutes(clock: str) -> int:
    h, m = clock.split(":")
    minutes = int(h) * 60 + int(m)
    if not 0 <= minutes <= 24 * 60:
        raise ValueError(clock)
    return minutes


def _ms(local: dt.datetime) -> int:
    return int(local.timestamp() * 1000)


def _open_spans(start_ms: int, hours: Hours, days: int = MAX_SEARCH_DAYS) -> Iterator[tuple[int, int]]:
    """Yield the open spans (epoch ms) of each local day from the day of start_ms on."""
    day = dt.datetime.fromtimestamp(start_ms / 1000, hours.zone).date()
    for _ in range(days):
        opening = hours.days.get(day.weekday())
        if opening is not None:
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=hours.zone)
            # Aware datetimes add wall-clock time, so 09:00 stays 09:00 on a DST day.
            yield (_ms(midnight + dt.timedelta(minutes=opening[0])),
                   _ms(midnight + dt.timedelta(minutes=opening[1])))
        day += dt.timedelta(days=1)


def business_ms(start_ms: int, end_ms: int, hours: Hours | None) -> int:
    """Return the business time between two instants, in milliseconds (0 if end is before start)."""
    if end_ms <= start_ms:
        return 0
    if hours is None:
        return end_ms - start_ms
    total = 0
    for begin, end in _open_spans(start_ms, hours):
        if begin >= end_ms:
            break
        total += max(0, min(end, end_ms) - max(begin, start_ms))
    return total


def add_business(start_ms: int, duration_ms: int, hours: Hours | None) -> int | None:
    """Return the instant when duration_ms of business time has passed after start_ms.

    None when that is further than MAX_SEARCH_DAYS away (or the site is never open).
    """
    if hours is None:
        return start_ms + duration_ms
    left = duration_ms
    for begin, end in _open_spans(start_ms, hours):
        begin = max(begin, start_ms)
        if end <= begin:
            continue
        if left <= end - begin:
            return begin + left
        left -= end - begin
    return None


def hour_of_week(at_ms: int, tz: zoneinfo.ZoneInfo) -> tuple[int, int]:
    """Return (weekday, hour) of an instant in a time zone; Monday is 0."""
    local = dt.datetime.fromtimestamp(at_ms / 1000, tz)
    return local.weekday(), local.hour


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


def opening_at_ms(setting: dict[str, Any] | None, at_ms: int) -> Opening:
    """Tell whether a site with these hours is open at at_ms, and when that changes."""
    hours = parse(setting)
    if hours is None or not hours.days:
        return Opening(True, None)
    # From the day before: a span of yesterday (local) may still be running in UTC terms.
    for start, end in _open_spans(at_ms - 86_400_000, hours, LOOKAHEAD_DAYS + 1):
        if start <= at_ms < end:
            return Opening(True, end)
        if at_ms < start:
            return Opening(False, start)
    return Opening(False, None)


def opening(setting: dict[str, Any] | None, at: dt.datetime) -> Opening:
    """opening_at_ms() for an aware datetime."""
    return opening_at_ms(setting, int(at.timestamp() * 1000))


def for_visitors(setting: dict[str, Any] | None, now_ms: int) -> dict[str, Any]:
    """Return the keys the visitor's welcome and availability carry: open_now, next_change_in."""
    found = opening_at_ms(setting, now_ms)
    return {"open_now": found.open, "next_change_in": found.change_in_seconds(now_ms)}
