"""Response targets the bot keeps: acknowledgement, escalation, severity changes, roles and status updates.

A timer re-reads the incident when it fires: an acknowledged or resolved incident is never pinged, and a
deadline that moved reschedules it. Each use case returns what happened; the response presenter posts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.adapters.redis_store.incidents import IncidentStore
from bot.core.access import Privilege
from bot.core.clock import Clock
from bot.core.events import SeverityChanged as SeverityEvent
from bot.core.events import TargetMissed
from bot.core.incident import Incident, IncidentStatus, needs_postmortem
from bot.core.milestones import Milestone
from bot.core.response import Role, UpdateStatus
from bot.core.severity import Severity
from bot.core.timeline import EntryKind
from bot.services.access import Access
from bot.services.errors import UserError, incident_or_refuse
from bot.services.lifecycle import LifecycleService, Resolved
from bot.services.ports import EventSink
from bot.services.timeline import TimelineService
from bot.services.timers import ResponseTimers


@dataclass(frozen=True)
class ResponsePolicy:
    responders_usergroup: str | None
    second_level_usergroup: str | None
    second_level_after: timedelta
    announcements_channel: str | None


@dataclass(frozen=True)
class DueSoon:
    incident: Incident


@dataclass(frozen=True)
class Escalated:
    incident: Incident
    level: int
    group: str | None  # the user group paged; None at level 1 means the channel (@here)
    minutes_late: int


@dataclass(frozen=True)
class UpdateDue:
    incident: Incident
    cadence_minutes: int


@dataclass(frozen=True)
class Acknowledged:
    incident: Incident
    already: bool  # someone acknowledged before: the person is told who and when


@dataclass(frozen=True)
class SeverityChanged:
    incident: Incident
    before: Severity
    deadline: datetime
    already: bool


@dataclass(frozen=True)
class SuggestionAnswered:
    """An answer to the severity suggestion: the change it made, or kept; or nothing, because someone answered
    first or the severity changed since (stale)."""

    incident: Incident
    declared: Severity
    at: datetime  # when it was answered
    changed: SeverityChanged | None = None
    kept: bool = False
    answered_by: str | None = None
    stale: bool = False


@dataclass(frozen=True)
class RoleAssigned:
    incident: Incident
    role: Role
    person: str


@dataclass(frozen=True)
class UpdatePosted:
    incident: Incident
    status: UpdateStatus
    text: str
    actor: str
    announce_in: str | None  # the announcements channel, when the update goes there too
    withheld: bool  # there is an announcements channel, but the incident is private
    resolved: Resolved | None


class ResponseService:
    def __init__(
        self,
        incidents: IncidentStore,
        lifecycle: LifecycleService,
        timeline: TimelineService,
        access: Access,
        timers: ResponseTimers,
        clock: Clock,
        policy: ResponsePolicy,
        events: EventSink,
    ) -> None:
        self.events = events
        self.store = incidents
        self.lifecycle = lifecycle
        self.timeline = timeline
        self.access = access
        self.timers = timers
        self.clock = clock
        self.policy = policy

    # ----- timers

    def fire(self, number: int, kind: str) -> DueSoon | Escalated | UpdateDue | None:
        """A timer came due: what it calls for now, if anything."""
        incident = self.store.get(number)
        if incident is None or not incident.is_open:
            return None
        if kind == "update":
            return self._remind(incident)
        if incident.acknowledged_at is not None:
            return None
        deadline = self.timers.deadlines.deadline(incident)
        now = self.clock.now()
        if kind == "due-soon":
            return DueSoon(incident)
        if kind == "escalate-1" and now < deadline:
            self.timers.at(number, kind, deadline)  # the severity changed since: the deadline moved
            return None
        if kind == "escalate-1":
            self.timers.at(number, "escalate-2", now + self.policy.second_level_after)
            return self._escalate(incident, 1, deadline)
        if kind == "escalate-2":
            return self._escalate(incident, 2, deadline)
        return None

    def _escalate(self, incident: Incident, level: int, deadline: datetime) -> Escalated | None:
        self.events.publish(TargetMissed(incident=incident.number, at=self.clock.now(), level=level))  # pagers
        group = self.policy.responders_usergroup if level == 1 else self.policy.second_level_usergroup
        if group is None and level == 2:
            self.timeline.record(
                incident.number,
                EntryKind.STATUS,
                "Still unacknowledged; no second-level group is configured to escalate to",
            )
            return None
        self.timeline.record(incident.number, EntryKind.STATUS, f"Escalated to level {level}: not acknowledged")
        late = int((self.clock.now() - deadline).total_seconds() // 60)
        return Escalated(incident, level, group, late)

    def _remind(self, incident: Incident) -> UpdateDue | None:
        cadence = self.timers.cadence.get(incident.severity)
        if cadence is None:
            return None
        due = (incident.last_update_at or incident.declared_at) + cadence
        if self.clock.now() < due:
            self.timers.at(incident.number, "update", due)  # an update came in since: remind from it
            return None
        self.timeline.record(incident.number, EntryKind.UPDATE, "Reminder: a status update is due")
        self.timers.at(incident.number, "update", self.clock.now() + cadence)
        return UpdateDue(incident, int(cadence.total_seconds() // 60))

    # ----- people acting

    def acknowledge(self, number: int, actor: str) -> Acknowledged:
        incident = incident_or_refuse(self.store.get(number), number, open_only=True)
        if incident.acknowledged_at is not None:
            return Acknowledged(incident, already=True)
        if actor != incident.commander:
            raise UserError(
                "Only the commander, {commander}, acknowledges; `/incident lead @you` makes you the commander.",
                commander=incident.commander,
            )
        incident = self.lifecycle.set_milestone(number, Milestone.ACKNOWLEDGED, self.clock.now(), actor)
        incident = self.store.update(incident, acknowledged_by=actor)
        self.timers.cancel_escalation(number)
        return Acknowledged(incident, already=False)

    def change_severity(self, number: int, severity: Severity, actor: str) -> SeverityChanged:
        incident = incident_or_refuse(self.store.get(number), number, open_only=True)
        before = incident.severity
        if before is severity:
            return SeverityChanged(incident, before, self.timers.deadlines.deadline(incident), already=True)
        self.access.require(incident, actor, Privilege.SEVERITY)
        changed = SeverityEvent(incident=number, at=self.clock.now(), actor=actor, before=before, after=severity)
        incident = self.store.update(incident, events=[changed], severity=severity)
        self.timeline.record(number, EntryKind.SEVERITY, f"Severity {before.label} → {severity.label}", actor)
        self.timers.schedule(incident)
        return SeverityChanged(incident, before, self.timers.deadlines.deadline(incident), already=False)

    def answer_suggestion(
        self, number: int, question: str, declared: Severity, suggested: Severity, keep: bool, actor: str
    ) -> SuggestionAnswered:
        """The bot's severity suggestion (`question`, the message it was asked in) answered: once, and only while
        the incident is still at the severity it was about; either answer goes on the timeline."""
        incident = incident_or_refuse(self.store.get(number), number, open_only=True)
        self.access.require(incident, actor, Privilege.SEVERITY)
        if incident.severity is not declared:
            return SuggestionAnswered(incident, declared, self.clock.now(), stale=True)
        first = self.store.answer_once(number, question, actor)
        if first is not None:
            return SuggestionAnswered(incident, declared, self.clock.now(), answered_by=first)
        if keep:
            text = f"Kept {incident.severity.label} (the measurement suggested {suggested.label})"
            self.timeline.record(number, EntryKind.SEVERITY, text, actor)
            return SuggestionAnswered(incident, declared, self.clock.now(), kept=True)
        changed = self.change_severity(number, suggested, actor)
        return SuggestionAnswered(incident, declared, self.clock.now(), changed=changed)

    def assign(self, number: int, role: Role, person: str, actor: str) -> RoleAssigned:
        incident = incident_or_refuse(self.store.get(number), number, open_only=True)
        self.access.require(incident, actor, Privilege.ROLES)
        role_change: dict[str, Any] = {role.field: person}
        incident = self.store.update(incident, **role_change)
        self.timeline.record(number, EntryKind.ROLE, f"{role.value.capitalize()}: {person}", actor)
        return RoleAssigned(incident, role, person)

    def post_update(self, number: int, actor: str, status: UpdateStatus, text: str) -> UpdatePosted:
        """A status update: in the channel, in the announcements channel (not for private incidents)."""
        incident = incident_or_refuse(self.store.get(number), number, open_only=True)
        self.access.require(incident, actor, Privilege.ACT)
        if status is UpdateStatus.RESOLVED and needs_postmortem(incident.severity):
            raise UserError(
                f"Resolve a {incident.severity.label} with `/incident resolve`: it asks for the root cause."
            )
        incident = self.store.update(
            incident,
            last_update_at=self.clock.now(),
            status=IncidentStatus(status.value) if status is not UpdateStatus.RESOLVED else incident.status,
        )
        self.timeline.record(number, EntryKind.UPDATE, f"Status update ({status.value}): {text}", actor)
        resolved = None
        if status is UpdateStatus.RESOLVED:
            resolved = self.lifecycle.resolve(number, actor, "", "", "")
        else:
            self.timers.schedule_reminder(incident)
        channel = self.policy.announcements_channel
        announce = channel if channel and not incident.private else None
        return UpdatePosted(incident, status, text, actor, announce, bool(channel) and incident.private, resolved)
