"""The response timers of an incident: due soon, escalations and status-update reminders, as RQ scheduled jobs
with one id per incident and purpose (so they fire once, whatever the number of processes, and survive
restarts). The response service decides what a timer does when it fires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.adapters.scheduler import Scheduler
from bot.core.incident import Incident
from bot.core.response import due_soon_at
from bot.core.severity import BusinessCalendar, Severity, SeverityMatrix
from bot.jobs import JobName

ESCALATIONS = ("due-soon", "escalate-1", "escalate-2")


@dataclass(frozen=True)
class Deadlines:
    matrix: SeverityMatrix
    calendar: BusinessCalendar

    def deadline(self, incident: Incident) -> datetime:
        return self.matrix[incident.severity].deadline(incident.declared_at, self.calendar)


class ResponseTimers:
    def __init__(self, scheduler: Scheduler, deadlines: Deadlines, cadence: dict[Severity, timedelta]) -> None:
        self.scheduler = scheduler
        self.deadlines = deadlines
        self.cadence = cadence

    def _id(self, number: int, kind: str) -> str:
        return self.scheduler.job_id("timer", number, kind)

    def at(self, number: int, kind: str, when: datetime) -> None:
        self.scheduler.schedule(when, JobName.RESPONSE_TIMER, number, kind, job_id=self._id(number, kind))

    def schedule(self, incident: Incident) -> None:
        """(Re)sets the incident's timers: due soon, the deadline (first escalation), the next update reminder."""
        deadline = self.deadlines.deadline(incident)
        if incident.acknowledged_at is None:
            self.at(incident.number, "due-soon", due_soon_at(incident.declared_at, deadline))
            self.at(incident.number, "escalate-1", deadline)
            self.scheduler.cancel(self._id(incident.number, "escalate-2"))
        self.schedule_reminder(incident)

    def schedule_reminder(self, incident: Incident) -> None:
        cadence = self.cadence.get(incident.severity)
        if cadence is None:
            self.scheduler.cancel(self._id(incident.number, "update"))
            return
        self.at(incident.number, "update", (incident.last_update_at or incident.declared_at) + cadence)

    def cancel_escalation(self, number: int) -> None:
        for kind in ESCALATIONS:
            self.scheduler.cancel(self._id(number, kind))
