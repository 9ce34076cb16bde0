"""Response targets the bot keeps: acknowledgement, escalation, severity changes, roles and status updates.

Every timer is an RQ scheduled job with a fixed id per incident, so it fires once whatever the number of web
processes, survives restarts, and moves when rescheduled. A timer re-reads the incident when it fires: an
acknowledged or resolved incident is never pinged, and a deadline that moved reschedules it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.adapters.redis_store import IncidentStore
from bot.adapters.scheduler import Scheduler, job_id
from bot.adapters.slack_api import SlackApi, SlackCallFailed
from bot.core.clock import Clock
from bot.core.incident import Incident, IncidentStatus
from bot.core.milestones import Milestone
from bot.core.response import Role, UpdateStatus, due_soon_at
from bot.core.severity import Severity
from bot.core.timeline import EntryKind
from bot.render.blocks import section
from bot.render.mrkdwn import escape, user
from bot.services.errors import UserError
from bot.services.incidents import IncidentService
from bot.services.lifecycle import POSTMORTEM_SEVERITIES, LifecycleService
from bot.services.timeline import TimelineService

TIMER_JOB = "bot.jobs.response_timer"


@dataclass(frozen=True)
class ResponsePolicy:
    responders_usergroup: str | None
    second_level_usergroup: str | None
    second_level_after: timedelta
    update_cadence: dict[Severity, timedelta]
    announcements_channel: str | None


class ResponseService:
    def __init__(
        self,
        incidents: IncidentService,
        lifecycle: LifecycleService,
        timeline: TimelineService,
        slack: SlackApi,
        scheduler: Scheduler,
        clock: Clock,
        timezone: ZoneInfo,
        policy: ResponsePolicy,
        key_prefix: str,
    ) -> None:
        self.incidents = incidents
        self.store: IncidentStore = incidents.store
        self.lifecycle = lifecycle
        self.timeline = timeline
        self.slack = slack
        self.scheduler = scheduler
        self.clock = clock
        self.timezone = timezone
        self.policy = policy
        self.key_prefix = key_prefix

    # ----- timers

    def _job(self, number: int, kind: str) -> str:
        return job_id(self.key_prefix, "timer", number, kind)

    def _at(self, number: int, kind: str, when: datetime) -> None:
        self.scheduler.schedule(when, TIMER_JOB, self.key_prefix, number, kind, job_id=self._job(number, kind))

    def schedule(self, incident: Incident) -> None:
        """(Re)sets the incident's timers: due soon, the deadline (first escalation), the next update reminder."""
        deadline = self.incidents.deadline(incident)
        if incident.acknowledged_at is None:
            self._at(incident.number, "due-soon", due_soon_at(incident.declared_at, deadline))
            self._at(incident.number, "escalate-1", deadline)
            self.scheduler.cancel(self._job(incident.number, "escalate-2"))
        self._schedule_reminder(incident)

    def _schedule_reminder(self, incident: Incident) -> None:
        cadence = self.policy.update_cadence.get(incident.severity)
        if cadence is None:
            self.scheduler.cancel(self._job(incident.number, "update"))
            return
        self._at(incident.number, "update", (incident.last_update_at or incident.declared_at) + cadence)

    def fire(self, number: int, kind: str) -> None:
        """A timer came due: act only if the incident still needs it."""
        incident = self.store.get(number)
        if incident is None or not incident.is_open:
            return
        if kind == "update":
            self._remind(incident)
            return
        if incident.acknowledged_at is not None:
            return
        deadline = self.incidents.deadline(incident)
        now = self.clock.now()
        if kind == "due-soon":
            self.incidents.refresh_header(incident)
        elif kind == "escalate-1" and now < deadline:
            self._at(number, kind, deadline)  # the severity changed since: the deadline moved
        elif kind == "escalate-1":
            self._escalate(incident, 1, deadline)
            self._at(number, "escalate-2", now + self.policy.second_level_after)
        elif kind == "escalate-2":
            self._escalate(incident, 2, deadline)

    def _escalate(self, incident: Incident, level: int, deadline: datetime) -> None:
        assert incident.channel_id is not None
        group = self.policy.responders_usergroup if level == 1 else self.policy.second_level_usergroup
        late = int((self.clock.now() - deadline).total_seconds() // 60)
        who = f"<!subteam^{group}>" if group else ("<!here>" if level == 1 else None)
        if who is None:
            self.timeline.record(
                incident.number,
                EntryKind.STATUS,
                "Still unacknowledged; no second-level group is configured to escalate to",
            )
            return
        text = (
            f":rotating_light: {who} {incident.reference} ({incident.severity.label}) is not acknowledged: its "
            f"response target passed {late} min ago. {user(incident.commander)}, press *Acknowledge* on the header."
        )
        self.slack.post(
            incident.channel_id, f"Escalation {level}: {incident.reference} is not acknowledged", [section(text)]
        )
        self.timeline.record(incident.number, EntryKind.STATUS, f"Escalated to level {level}: not acknowledged")
        self.incidents.refresh_header(incident)

    def _remind(self, incident: Incident) -> None:
        cadence = self.policy.update_cadence.get(incident.severity)
        if cadence is None:
            return
        due = (incident.last_update_at or incident.declared_at) + cadence
        if self.clock.now() < due:
            self._at(incident.number, "update", due)  # an update came in since: remind from it
            return
        assert incident.channel_id is not None
        minutes = int(cadence.total_seconds() // 60)
        self.slack.post(
            incident.channel_id,
            f"{incident.reference} needs a status update",
            [
                section(
                    f":loudspeaker: {user(incident.commander)}, no status update for {incident.reference} in the last "
                    f"{minutes} min ({incident.severity.label} cadence). Post one with `/incident update`."
                )
            ],
        )
        self.timeline.record(incident.number, EntryKind.UPDATE, "Reminder: a status update is due")
        self._at(incident.number, "update", self.clock.now() + cadence)

    # ----- people acting

    def acknowledge(self, number: int, actor: str) -> str:
        incident = self.lifecycle.open_incident(number)
        if incident.acknowledged_at is not None:
            return (
                f"{incident.reference} was already acknowledged by {user(incident.acknowledged_by or '?')} at "
                f"{incident.acknowledged_at.astimezone(self.timezone):%H:%M}."
            )
        if actor != incident.commander:
            raise UserError(
                f"Only the commander, {user(incident.commander)}, acknowledges; "
                "`/incident lead @you` makes you the commander."
            )
        incident = self.lifecycle.set_milestone(number, Milestone.ACKNOWLEDGED, self.clock.now(), actor)
        incident = self.store.update(incident, acknowledged_by=actor)
        for kind in ("due-soon", "escalate-1", "escalate-2"):
            self.scheduler.cancel(self._job(number, kind))
        self.incidents.refresh_header(incident)
        return f"{incident.reference} acknowledged: the escalation is off."

    def change_severity(self, number: int, severity: Severity, actor: str) -> str:
        incident = self.lifecycle.open_incident(number)
        if incident.severity is severity:
            return f"{incident.reference} is already {severity.label}."
        before = incident.severity
        incident = self.store.update(incident, severity=severity)
        deadline = self.incidents.deadline(incident)
        self.timeline.record(number, EntryKind.SEVERITY, f"Severity {before.label} → {severity.label}", actor)
        self.incidents.refresh_header(incident)
        self.schedule(incident)
        return (
            f"{incident.reference} is now {severity.label}; the response target is "
            f"{deadline.astimezone(self.timezone):%Y-%m-%d %H:%M %Z}."
        )

    def assign(self, number: int, role: Role, person: str, actor: str) -> str:
        incident = self.store.update(self.lifecycle.open_incident(number), **{role.field: person})
        assert incident.channel_id is not None
        self.slack.invite(incident.channel_id, [person])
        self.timeline.record(number, EntryKind.ROLE, f"{role.value.capitalize()}: {person}", actor)
        self.incidents.refresh_header(incident)
        return f"{user(person)} is now the {role.value} of {incident.reference}."

    def post_update(self, number: int, actor: str, status: UpdateStatus, text: str) -> str:
        """A status update: in the channel, in the announcements channel (not for private incidents)."""
        incident = self.lifecycle.open_incident(number)
        assert incident.channel_id is not None
        if status is UpdateStatus.RESOLVED and incident.severity in POSTMORTEM_SEVERITIES:
            raise UserError(
                f"Resolve a {incident.severity.label} with `/incident resolve`: it asks for the root cause."
            )
        update = (
            f":loudspeaker: *{incident.reference} update: {status.value}* ({incident.severity.label}, "
            f"{escape(incident.title)})\n{escape(text)}\n_from {user(actor)}_"
        )
        self.slack.post(incident.channel_id, f"{incident.reference} update: {status.value}", [section(update)])
        incident = self.store.update(
            incident,
            last_update_at=self.clock.now(),
            status=IncidentStatus(status.value) if status is not UpdateStatus.RESOLVED else incident.status,
        )
        self.timeline.record(number, EntryKind.UPDATE, f"Status update ({status.value}): {text}", actor)
        announced = ""
        channel = self.policy.announcements_channel
        if channel and not incident.private:
            try:
                self.slack.post(channel, f"{incident.reference} update: {status.value}", [section(update)])
                announced = " and in the announcements channel"
            except SlackCallFailed as failure:
                announced = f"; the announcements channel refused it ({failure.error}: invite the bot there)"
        elif channel:
            announced = "; not announced, as the incident is private"
        if status is UpdateStatus.RESOLVED:
            self.lifecycle.resolve(number, actor, "", "", "")
        else:
            self.incidents.refresh_header(incident)
            self._schedule_reminder(incident)
        return f"Update posted here{announced}."
