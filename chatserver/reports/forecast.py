"""The staffing forecast: agents needed per hour of the week, with a what-if surge. Pure.

Inputs are what the store measured over the last weeks: chats that asked for a person per
hour of the week, their mean handling time, the agents' chat concurrency, the site's chat
first-response target and the agents scheduled. Erlang C (erlang.py) does the rest.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from chatserver.hours import DAYS
from chatserver.reports import erlang
from chatserver.reports.metrics import Cell, Table

DEFAULT_WEEKS = 4
# Without measured chats, a handling time of five minutes: a typical web-shop chat.
DEFAULT_HANDLING_S = 300.0
DEFAULT_CONCURRENCY = 2
MAX_SURGE_PERCENT = 1000


@dataclass(frozen=True)
class Inputs:
    """What the forecast is computed from; every field is measured or a stated setting."""

    weeks: int
    # Chats that asked for a person, counted per (weekday, hour) over all the weeks.
    arrivals: dict[tuple[int, int], int]
    handling_s: float
    concurrency: int
    target_s: int
    scheduled: dict[tuple[int, int], int]
    goal: float = erlang.DEFAULT_GOAL


def handling_time(durations_s: Sequence[float]) -> float:
    """Return the mean handling time in seconds, or the default when nothing was measured."""
    return statistics.fmean(durations_s) if durations_s else DEFAULT_HANDLING_S


def concurrency(max_chats: Sequence[int]) -> int:
    """Return the agents' typical chat concurrency: the median of their caps (at least 1)."""
    return max(1, int(statistics.median_low(max_chats))) if max_chats else DEFAULT_CONCURRENCY


def check_surge(percent: float) -> float:
    if not 0 <= percent <= MAX_SURGE_PERCENT:
        raise ValueError(f"the surge must be 0 to {MAX_SURGE_PERCENT} percent")
    return percent


def table(inputs: Inputs, surge_percent: float = 0.0) -> Table:
    """Return one row per hour of the week with chats expected and agents needed.

    Hours without any chat in the weeks measured need no agent and are left out, unless
    agents are scheduled then (an over-staffed hour is worth seeing).
    """
    check_surge(surge_percent)
    factor = 1 + surge_percent / 100
    rows: list[tuple[Cell, ...]] = []
    for day in range(7):
        for hour in range(24):
            count = inputs.arrivals.get((day, hour), 0)
            scheduled = inputs.scheduled.get((day, hour))
            if count == 0 and not scheduled:
                continue
            per_hour = count / inputs.weeks
            now = erlang.agents_needed(per_hour, inputs.handling_s, inputs.target_s,
                                       inputs.concurrency, inputs.goal)
            peak = erlang.agents_needed(per_hour * factor, inputs.handling_s, inputs.target_s,
                                        inputs.concurrency, inputs.goal)
            rows.append((
                DAYS[day], hour, round(per_hour, 2), now.agents, round(per_hour * factor, 2),
                peak.agents, round(peak.service_level, 3), scheduled,
            ))
    return Table("forecast", ("weekday", "hour", "chats_per_hour", "agents_needed",
                              "surge_chats_per_hour", "surge_agents_needed",
                              "surge_service_level", "agents_scheduled"), rows)


def text(inputs: Inputs, surge_percent: float) -> str:
    """Return the forecast as an aligned text table, for the command line."""
    result = table(inputs, surge_percent)
    header = (f"{inputs.weeks} weeks measured; handling {inputs.handling_s:.0f} s; "
              f"{inputs.concurrency} chats per agent; {inputs.goal:.0%} answered within "
              f"{inputs.target_s} s; surge +{surge_percent:g}%")
    names = ("day", "hour", "chats/h", "agents", f"+{surge_percent:g}% chats/h",
             f"+{surge_percent:g}% agents", "service", "scheduled")
    lines = [header, ""]
    widths = [max(len(names[i]), *(len(_fmt(r[i])) for r in result.rows)) if result.rows
              else len(names[i]) for i in range(len(names))]
    lines.append("  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True)))
    for row in result.rows:
        lines.append("  ".join(_fmt(v).rjust(w) for v, w in zip(row, widths, strict=True)))
    if not result.rows:
        lines.append("no chats reached a person in the weeks measured")
    return "\n".join(lines)


def _fmt(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
