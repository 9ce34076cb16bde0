"""Severities, the severity matrix and response targets (business-day aware)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Severity(IntEnum):
    SEV1 = 1
    SEV2 = 2
    SEV3 = 3
    SEV4 = 4

    @property
    def label(self) -> str:
        return f"SEV-{self.value}"

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Accepts `sev2`, `SEV-2`, `sev 2` or `2`; raises ValueError with a user-facing sentence."""
        match = re.fullmatch(r"(?:sev)?[\s-]?([1-4])", text.strip().lower())
        if not match:
            raise ValueError(f"`{text}` is not a severity: use sev1, sev2, sev3 or sev4.")
        return cls(int(match.group(1)))


_TARGET = re.compile(r"(\d+)([mhd])")
_TARGET_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class ResponseTarget(BaseModel):
    """How fast a severity must be answered: a fixed duration, or by the end of the next business day."""

    model_config = ConfigDict(frozen=True)
    duration: timedelta | None = None
    next_business_day: bool = False

    @classmethod
    def parse(cls, text: str) -> ResponseTarget:
        if text == "next_business_day":
            return cls(next_business_day=True)
        match = _TARGET.fullmatch(text)
        if not match:
            raise ValueError(f"`{text}` is not a response target: use e.g. 15m, 1h, 1d or next_business_day")
        amount, unit = int(match.group(1)), match.group(2)
        return cls(duration=timedelta(**{_TARGET_UNITS[unit]: amount}))

    def describe(self) -> str:
        if self.next_business_day or self.duration is None:
            return "next business day"
        minutes = int(self.duration.total_seconds() // 60)
        if minutes % 1440 == 0:
            days = minutes // 1440
            return f"< {days} day" + ("s" if days > 1 else "")
        if minutes % 60 == 0:
            return f"< {minutes // 60} h"
        return f"< {minutes} min"


@dataclass(frozen=True)
class BusinessCalendar:
    """Business hours and days in the team's timezone, for targets counted in business days."""

    timezone: ZoneInfo
    opens: time
    closes: time
    weekdays: frozenset[int]  # Monday is 0

    def next_business_day_close(self, moment: datetime) -> datetime:
        """Close of business on the first business day after the one `moment` falls on."""
        local = moment.astimezone(self.timezone)
        day = local.date()
        while True:
            day = day + timedelta(days=1)
            if day.weekday() in self.weekdays:
                return datetime.combine(day, self.closes, tzinfo=self.timezone)


class Measured(BaseModel):
    """When the bot measures this severity: a probe (of `first-five-minutes.yaml` or a playbook) found evidence,
    or its measure, a failure share, reached `at_least_percent`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    probe: str
    at_least_percent: float | None = Field(default=None, gt=0, le=100)
    # The words of the definition this measurement stands for ("data exfiltration suspected"); said with every
    # suggestion, so that a reader sees what the matrix says apart from what the bot inferred. Unset: the whole
    # definition.
    reads_as: str = ""


class SeverityLevel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    level: Severity
    definition: str
    response_target: ResponseTarget
    measured_when: tuple[Measured, ...] = ()  # any of them; the matrix's words as data
    # Every ground of the definition is one of measured_when: only then may a measurement that meets none of them
    # suggest a lower severity (an unmeasured ground, say "exfiltration suspected", may be why it was declared).
    every_ground_measured: bool = False

    @field_validator("response_target", mode="before")
    @classmethod
    def _parse_target(cls, value: object) -> object:
        return ResponseTarget.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _grounds_measured(self) -> SeverityLevel:
        if self.every_ground_measured and not self.measured_when:
            raise ValueError("every_ground_measured needs the grounds listed under measured_when")
        return self

    def deadline(self, declared_at: datetime, calendar: BusinessCalendar) -> datetime:
        if self.response_target.duration is not None:
            return declared_at + self.response_target.duration
        return calendar.next_business_day_close(declared_at)


class SeverityMatrix(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    severities: tuple[SeverityLevel, ...]

    @field_validator("severities")
    @classmethod
    def _all_four_once(cls, value: tuple[SeverityLevel, ...]) -> tuple[SeverityLevel, ...]:
        levels = sorted(level.level for level in value)
        if levels != list(Severity):
            raise ValueError("must define SEV-1 to SEV-4 exactly once each")
        return tuple(sorted(value, key=lambda level: level.level))

    def __getitem__(self, severity: Severity) -> SeverityLevel:
        return self.severities[severity.value - 1]

    def probes(self) -> set[str]:
        """The probes the matrix reads (the loader checks they exist)."""
        return {condition.probe for level in self.severities for condition in level.measured_when}

    def line(self) -> tuple[Severity, float] | None:
        """The share threshold a chart draws: the lowest below 100% (SEV-2's sustained errors), with its level."""
        shares = [
            (condition.at_least_percent, level.level)
            for level in self.severities
            for condition in level.measured_when
            if condition.at_least_percent is not None and condition.at_least_percent < 100
        ]
        if not shares:
            return None
        percent, severity = min(shares)
        return severity, percent
