"""Insights: per week and severity, how many incidents, how fast they were acknowledged, mitigated and resolved,
how many missed their response target, and how many playbooks and kill switches they took. Drills are left out:
they measure practice, not production."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from bot.core.incident import Incident
from bot.core.milestones import durations
from bot.core.severity import Severity


@dataclass(frozen=True)
class IncidentFacts:
    """What insights count of one incident, beside its own fields."""

    incident: Incident
    target_missed: bool
    playbooks_run: int
    switches_executed: int


@dataclass(frozen=True)
class Spread:
    """The median and 90th percentile of a time-to-X, over the incidents that reached it (None: none did)."""

    median: timedelta | None
    p90: timedelta | None
    reached: int


@dataclass(frozen=True)
class WeekRow:
    week: date  # the Monday the week starts on, in the team's timezone
    severity: Severity
    incidents: int
    to_acknowledge: Spread
    to_mitigate: Spread
    to_resolve: Spread
    targets_missed: int
    playbooks_run: int
    switches_executed: int


def percentile(values: list[timedelta], share: float) -> timedelta | None:
    """The nearest-rank percentile (the smallest value with at least `share` of the values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def spread(values: list[timedelta]) -> Spread:
    return Spread(percentile(values, 0.5), percentile(values, 0.9), len(values))


def week_of(incident: Incident, timezone: ZoneInfo) -> date:
    day = incident.declared_at.astimezone(timezone).date()
    return day - timedelta(days=day.weekday())


def weekly(facts: Iterable[IncidentFacts], timezone: ZoneInfo) -> list[WeekRow]:
    """One row per week and severity that had an incident (drills left out), newest week first, SEV-1 first."""
    groups: dict[tuple[date, Severity], list[IncidentFacts]] = defaultdict(list)
    for fact in facts:
        if not fact.incident.drill:
            groups[(week_of(fact.incident, timezone), fact.incident.severity)].append(fact)
    rows = []
    for (week, severity), members in groups.items():
        spans = [durations(fact.incident) for fact in members]
        rows.append(
            WeekRow(
                week=week,
                severity=severity,
                incidents=len(members),
                to_acknowledge=spread([s.to_acknowledge for s in spans if s.to_acknowledge is not None]),
                to_mitigate=spread([s.to_mitigate for s in spans if s.to_mitigate is not None]),
                to_resolve=spread([s.to_resolve for s in spans if s.to_resolve is not None]),
                targets_missed=sum(fact.target_missed for fact in members),
                playbooks_run=sum(fact.playbooks_run for fact in members),
                switches_executed=sum(fact.switches_executed for fact in members),
            )
        )
    return sorted(rows, key=lambda row: (-row.week.toordinal(), row.severity.value))
