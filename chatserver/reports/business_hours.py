"""Count time in a site's business hours and time zone: elapsed time and deadlines. Pure.

A site without business hours is always open: business time is wall-clock time. The hours
come from the site settings (chatserver/site_settings.py): {"timezone", "days": {"mon":
["09:00", "17:00"], ...}}; the opening times are local, so a day with a daylight-saving
change is still open from 09:00 to 17:00 on the clock on the wall.
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


@dataclass(frozen=True)
class Hours:
    """Opening times per weekday (0 is Monday) in minutes after local midnight."""

    zone: zoneinfo.ZoneInfo
    days: dict[int, tuple[int, int]]


def parse(hours: dict[str, Any] | None) -> Hours | None:
    """Return a site's business hours from its settings, or None when it is always open."""
    if not hours or not hours.get("days"):
        return None
    days: dict[int, tuple[int, int]] = {}
    for name, (start, end) in hours["days"].items():
        days[DAYS.index(name)] = (_minutes(start), _minutes(end))
    return Hours(zoneinfo.ZoneInfo(hours.get("timezone") or "UTC"), days)


def zone(hours: dict[str, Any] | None) -> zoneinfo.ZoneInfo:
    """Return the site's time zone: the one of its business hours, else UTC."""
    return zoneinfo.ZoneInfo((hours or {}).get("timezone") or "UTC")


def _minutes(clock: str) -> int:
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


def _ms(local: dt.datetime) -> int:
    return int(local.timestamp() * 1000)


def _open_spans(start_ms: int, hours: Hours) -> Iterator[tuple[int, int]]:
    """Yield the open spans (epoch ms) of each local day from the day of start_ms on."""
    day = dt.datetime.fromtimestamp(start_ms / 1000, hours.zone).date()
    for _ in range(MAX_SEARCH_DAYS):
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
