"""A site's staffing schedule: agents planned per hour of the week, written as lines like
'mon-fri 9-17 3' by the CLI (`forecast --schedule`) and the console's proactive page alike."""

from __future__ import annotations

import re

from sqlalchemy import delete, insert, select

from chatserver import hours as business_hours
from chatserver.store import Store
from chatserver.store.schema import staffing_schedule

_LINE = re.compile(r"(\w{3})(?:-(\w{3}))?\s+(\d{1,2})-(\d{1,2})\s+(\d{1,4})")
# More lines than a week has hours is no schedule anybody typed.
MAX_LINES = 7 * 24

Planned = dict[tuple[int, int], int]


def parse(specs: list[str]) -> Planned:
    """Return agents per (weekday, hour) from lines like 'mon-fri 9-17 3' (hours 9:00 to 17:00)."""
    if len(specs) > MAX_LINES:
        raise ValueError(f"a schedule has at most {MAX_LINES} lines")
    planned: Planned = {}
    for spec in specs:
        match = _LINE.fullmatch(spec.strip().lower())
        days = business_hours.DAYS
        if not match or match[1] not in days or (match[2] and match[2] not in days):
            raise ValueError(f"schedule {spec!r}: write it like 'mon-fri 9-17 3'")
        first, last = days.index(match[1]), days.index(match[2] or match[1])
        start, end, count = int(match[3]), int(match[4]), int(match[5])
        if not 0 <= start < end <= 24 or first > last:
            raise ValueError(f"schedule {spec!r}: days and hours must run forwards within 0-24")
        for day in range(first, last + 1):
            for hour in range(start, end):
                planned[(day, hour)] = count
    return planned


def lines(planned: Planned) -> list[str]:
    """Write a schedule back as lines parse() reads: one per run of hours, days alike joined."""
    runs: list[tuple[int, int, int, int]] = []  # (day, start, end, agents)
    for day in range(7):
        hour = 0
        while hour < 24:
            count = planned.get((day, hour))
            if count is None:
                hour += 1
                continue
            start = hour
            while hour < 24 and planned.get((day, hour)) == count:
                hour += 1
            runs.append((day, start, hour, count))
    days = business_hours.DAYS
    written: list[str] = []
    done: set[int] = set()
    for i, (day, start, end, count) in enumerate(runs):
        if i in done:
            continue
        last = day
        for j in range(i + 1, len(runs)):  # the same hours on the next days: one line
            if runs[j] == (last + 1, start, end, count):
                last += 1
                done.add(j)
        span = days[day] if last == day else f"{days[day]}-{days[last]}"
        written.append(f"{span} {start}-{end} {count}")
    return written


async def read(store: Store, site_id: str) -> Planned:
    async with store.read() as conn:
        return {(r.weekday, r.hour): r.agents for r in await conn.execute(
            select(staffing_schedule).where(staffing_schedule.c.site_id == site_id))}


async def replace(store: Store, site_id: str, planned: Planned) -> None:
    """Make planned the site's whole schedule, in one transaction."""
    async with store.write() as conn:
        await conn.execute(delete(staffing_schedule).where(staffing_schedule.c.site_id == site_id))
        if planned:
            await conn.execute(insert(staffing_schedule), [
                {"site_id": site_id, "weekday": d, "hour": h, "agents": n} for (d, h), n in planned.items()])
