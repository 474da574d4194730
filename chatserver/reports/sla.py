"""SLA clocks: targets per site, when a chat or ticket is nearing or past one. Pure.

The definitions (docs/metrics.md): a chat's first-response clock runs from the moment the
visitor asked for a person (queued) to the first agent message; its resolution clock from
queued to closed. A ticket's clocks run from its creation to the first agent reply and to
solved. Clocks count business hours only, where the site has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from chatserver import hours as business_hours
from chatserver.hours import Hours

Kind = Literal["chat", "ticket"]
Metric = Literal["first_response", "resolution"]
State = Literal["ok", "nearing", "breached"]
# A clock is "nearing" once this share of its target has passed: at 80% a one-minute chat
# target leaves 12 seconds, a one-day ticket target a working afternoon's notice.
NEARING_SHARE = 0.8


@dataclass(frozen=True)
class Targets:
    """A site's SLA targets in seconds of business time."""

    chat_first_response: int
    chat_resolution: int
    ticket_first_response: int
    ticket_resolution: int

    def of(self, kind: Kind, metric: Metric) -> int:
        value: int = getattr(self, f"{kind}_{metric}")
        return value


def targets(settings: dict[str, Any]) -> Targets:
    """Return the SLA targets from a site's settings (defaults where unset)."""
    from chatserver.site_settings import with_defaults

    sla = with_defaults(settings)["sla"]
    return Targets(
        int(sla["chat_first_response_seconds"]), int(sla["chat_resolution_seconds"]),
        int(sla["ticket_first_response_seconds"]), int(sla["ticket_resolution_seconds"]),
    )


def breached(start_ms: int, end_ms: int, target_s: int, hours: Hours | None) -> bool:
    """Return whether a clock from start to end (or to now, while running) ran past its target."""
    return business_hours.business_ms(start_ms, end_ms, hours) > target_s * 1000


@dataclass(frozen=True)
class Clock:
    """A running clock: when it turns nearing and when it breaches (epoch ms)."""

    kind: Kind
    subject_id: str
    metric: Metric
    target_s: int
    nearing_at: int | None
    due_at: int | None

    def state(self, now_ms: int) -> State:
        if self.due_at is not None and now_ms > self.due_at:
            return "breached"
        if self.nearing_at is not None and now_ms >= self.nearing_at:
            return "nearing"
        return "ok"


def clock(
    kind: Kind, subject_id: str, started_ms: int, answered: bool, targets: Targets,
    hours: Hours | None,
) -> Clock:
    """Return the clock that runs now: first response until answered, then resolution."""
    metric: Metric = "resolution" if answered else "first_response"
    target = targets.of(kind, metric)
    return Clock(
        kind, subject_id, metric, target,
        business_hours.add_business(started_ms, int(target * 1000 * NEARING_SHARE), hours),
        business_hours.add_business(started_ms, target * 1000, hours),
    )
