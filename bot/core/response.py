"""Response targets as deadlines the bot keeps: countdown states, escalation levels, update cadence, roles."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.incident import Incident

DUE_SOON_SHARE = 0.25  # the last quarter of the target
DUE_SOON_MIN = timedelta(minutes=5)


class Countdown(StrEnum):
    ON_TIME = "on time"
    DUE_SOON = "due soon"
    MISSED = "missed"
    ACKNOWLEDGED = "acknowledged"
    ACKNOWLEDGED_LATE = "acknowledged late"


def due_soon_at(declared_at: datetime, deadline: datetime) -> datetime:
    return deadline - max(DUE_SOON_MIN, (deadline - declared_at) * DUE_SOON_SHARE)


def countdown(incident: Incident, deadline: datetime, now: datetime) -> Countdown:
    if incident.acknowledged_at is not None:
        return Countdown.ACKNOWLEDGED if incident.acknowledged_at <= deadline else Countdown.ACKNOWLEDGED_LATE
    if now >= deadline:
        return Countdown.MISSED
    if now >= due_soon_at(incident.declared_at, deadline):
        return Countdown.DUE_SOON
    return Countdown.ON_TIME


class Role(StrEnum):
    COMMANDER = "commander"
    COMMUNICATIONS = "communications"
    SCRIBE = "scribe"

    @property
    def field(self) -> str:
        return {Role.COMMANDER: "commander", Role.COMMUNICATIONS: "communications", Role.SCRIBE: "scribe"}[self]

    @classmethod
    def parse(cls, word: str) -> Role:
        aliases = {
            "lead": cls.COMMANDER,
            "commander": cls.COMMANDER,
            "ic": cls.COMMANDER,
            "comms": cls.COMMUNICATIONS,
            "communications": cls.COMMUNICATIONS,
            "scribe": cls.SCRIBE,
        }
        try:
            return aliases[word.lower()]
        except KeyError:
            raise ValueError(f"`{word}` is not a role: use lead, comms or scribe.") from None


class UpdateStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
