"""Incident milestones in their one possible order, the durations between them, and typed times."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.core.incident import Incident


class Milestone(StrEnum):
    FIRST_SIGNAL = "first signal"
    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


ORDER = list(Milestone)
FIELDS = {
    Milestone.FIRST_SIGNAL: "first_signal_at",
    Milestone.DECLARED: "declared_at",
    Milestone.ACKNOWLEDGED: "acknowledged_at",
    Milestone.MITIGATED: "mitigated_at",
    Milestone.RESOLVED: "resolved_at",
}


class MilestoneError(ValueError):
    """A milestone that would break the order; the message is the sentence for the person."""


def moment(incident: Incident, milestone: Milestone) -> datetime | None:
    value = getattr(incident, FIELDS[milestone])
    if milestone is Milestone.FIRST_SIGNAL and value is None:
        return incident.declared_at  # the first signal defaults to the declaration
    return value  # type: ignore[no-any-return]


def check_order(incident: Incident, milestone: Milestone, at: datetime, timezone: ZoneInfo) -> None:
    """Refuses a milestone earlier than one set before it, or later than one set after it."""
    index = ORDER.index(milestone)
    for other in ORDER[:index]:
        earlier = getattr(incident, FIELDS[other])
        if earlier is not None and at < earlier:
            raise MilestoneError(
                f"The {milestone.value} time ({_clock(at, timezone)}) cannot come before "
                f"the {other.value} time ({_clock(earlier, timezone)})."
            )
    for other in ORDER[index + 1 :]:
        later = getattr(incident, FIELDS[other])
        if later is not None and at > later:
            raise MilestoneError(
                f"The {milestone.value} time ({_clock(at, timezone)}) cannot come after "
                f"the {other.value} time ({_clock(later, timezone)})."
            )


def _clock(at: datetime, timezone: ZoneInfo) -> str:
    return at.astimezone(timezone).strftime("%H:%M")


@dataclass(frozen=True)
class Durations:
    to_detect: timedelta | None
    to_acknowledge: timedelta | None
    to_mitigate: timedelta | None
    to_resolve: timedelta | None


def durations(incident: Incident) -> Durations:
    """Detect: first signal → declared, unknown until the first signal is recorded. Acknowledge: declared →
    acknowledged. Mitigate and resolve: from the first signal (the declaration while none is recorded)."""
    signal = moment(incident, Milestone.FIRST_SIGNAL)
    assert signal is not None

    def since(start: datetime, end: datetime | None) -> timedelta | None:
        return end - start if end else None

    return Durations(
        to_detect=incident.declared_at - signal if incident.first_signal_at else None,
        to_acknowledge=since(incident.declared_at, incident.acknowledged_at),
        to_mitigate=since(signal, incident.mitigated_at),
        to_resolve=since(signal, incident.resolved_at),
    )


_TIME = re.compile(r"(?:(\d{4}-\d{2}-\d{2})[ T])?(\d{1,2}):(\d{2})")


def parse_time(text: str, now: datetime, timezone: ZoneInfo) -> datetime:
    """`14:02` (in the team's timezone, on the day that puts it closest to now: 23:55 typed at 00:10 is
    yesterday's) or `2026-11-25 14:02`."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        raise MilestoneError(f"`{text.strip()}` is not a time: use HH:MM, e.g. 14:02, or YYYY-MM-DD HH:MM.")
    day, hour, minute = match.group(1), int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise MilestoneError(f"`{text.strip()}` is not a time of day.")
    local_now = now.astimezone(timezone)
    if day:
        try:
            base = datetime.fromisoformat(day)
        except ValueError:
            raise MilestoneError(f"`{day}` is not a date.") from None
        return base.replace(hour=hour, minute=minute, tzinfo=timezone).astimezone(now.tzinfo)
    today = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    closest = min((today + timedelta(days=shift) for shift in (-1, 0, 1)), key=lambda c: abs(c - local_now))
    return closest.astimezone(now.tzinfo)
