"""Business hours (chatserver/hours.py): open or closed at a moment, and when that changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from chatserver import hours

AMS = ZoneInfo("Europe/Amsterdam")
WEEKDAYS = {"timezone": "Europe/Amsterdam",
            "days": {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc]


def test_no_hours_means_always_open() -> None:
    assert hours.opening(None, datetime.now(UTC)) == hours.Opening(True, None)
    assert hours.for_visitors(None, 0) == {"open_now": True, "next_change_in": None}


@pytest.mark.parametrize(
    ("moment", "is_open", "change"),
    [
        # Wednesday 3 July 2024, summer time (UTC+2).
        (local(2024, 7, 3, 8, 59), False, local(2024, 7, 3, 9, 0)),
        (local(2024, 7, 3, 9, 0), True, local(2024, 7, 3, 17, 0)),
        (local(2024, 7, 3, 16, 59, 59), True, local(2024, 7, 3, 17, 0)),
        (local(2024, 7, 3, 17, 0), False, local(2024, 7, 4, 9, 0)),
        # Friday evening and the weekend wait for Monday morning.
        (local(2024, 7, 5, 18, 0), False, local(2024, 7, 8, 9, 0)),
        (local(2024, 7, 7, 23, 59), False, local(2024, 7, 8, 9, 0)),
    ],
)
def test_weekday_hours_in_the_sites_time_zone(
    moment: datetime, is_open: bool, change: datetime
) -> None:
    found = hours.opening(WEEKDAYS, moment.astimezone(UTC))
    assert found.open is is_open
    assert found.next_change_ms == int(change.timestamp() * 1000)


def test_the_clock_change_moves_opening_time_in_utc() -> None:
    # Summer time starts on Sunday 31 March 2024: Monday 09:00 is 07:00 UTC, Friday's was 08:00.
    friday = hours.opening(WEEKDAYS, local(2024, 3, 29, 18, 0))
    assert friday.next_change_ms == int(datetime(2024, 4, 1, 7, 0, tzinfo=UTC).timestamp() * 1000)
    assert hours.opening(WEEKDAYS, local(2024, 3, 29, 8, 30)).next_change_ms == int(
        datetime(2024, 3, 29, 8, 0, tzinfo=UTC).timestamp() * 1000
    )


def test_a_site_open_one_day_a_week_finds_next_weeks_opening() -> None:
    sundays = {"timezone": "America/New_York", "days": {"sun": ["10:00", "12:00"]}}
    after = datetime(2024, 7, 7, 12, 30, tzinfo=ZoneInfo("America/New_York"))
    found = hours.opening(sundays, after)
    assert not found.open
    assert found.next_change_ms == int(
        datetime(2024, 7, 14, 10, 0, tzinfo=ZoneInfo("America/New_York")).timestamp() * 1000
    )


def test_seconds_until_the_change_round_up() -> None:
    now = int(local(2024, 7, 3, 16, 59, 59).timestamp() * 1000) + 500
    assert hours.for_visitors(WEEKDAYS, now) == {"open_now": True, "next_change_in": 1}
    now = int(local(2024, 7, 3, 8, 0).timestamp() * 1000)
    assert hours.for_visitors(WEEKDAYS, now) == {"open_now": False, "next_change_in": 3600}


@pytest.mark.parametrize(
    "broken",
    [
        {"timezone": "Mars/Olympus", "days": {"mon": ["09:00", "17:00"]}},
        {"timezone": "Europe/Amsterdam", "days": {}},
        {"timezone": "Europe/Amsterdam", "days": {"mon": ["nine", "five"]}},
    ],
)
def test_unreadable_hours_never_show_a_site_as_closed(broken: dict[str, object]) -> None:
    assert hours.opening(broken, datetime.now(UTC)) == hours.Opening(True, None)
