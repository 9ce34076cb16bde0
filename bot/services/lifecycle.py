"""An incident after its declaration: notes, milestones, action items, resolving, and the post-mortem draft."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from jinja2 import Template

from bot.adapters.redis_store.evidence import EvidenceStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.tracked import TrackedStore
from bot.adapters.redis_store.walkthrough import WalkthroughStore
from bot.core.access import Privilege
from bot.core.approval import ApprovalRequest
from bot.core.clock import Clock
from bot.core.events import Acknowledged, Event, Mitigated, PostmortemPublished
from bot.core.events import Resolved as ResolvedEvent
from bot.core.incident import ROOT_CAUSE_REQUIRED, Incident, IncidentStatus, needs_postmortem
from bot.core.milestones import FIELDS, Milestone, MilestoneError, check_order
from bot.core.playbook import FIRST_FIVE, PhaseName, window_values
from bot.core.postmortem import ActionItem, StepTaken, build, compile_template, impact, render_postmortem
from bot.core.timeline import EntryKind, TimelineEntry
from bot.core.tracking import issue_cells
from bot.core.walkthrough import StepStatus, state_key, visible
from bot.kinds import kind_of
from bot.runbook import Runbook
from bot.services.access import Access
from bot.services.approvals import ApprovalService
from bot.services.audit import AuditService
from bot.services.errors import UserError, incident_or_refuse
from bot.services.ports import DraftDestination, EventSink
from bot.services.timeline import TimelineService

logger = logging.getLogger(__name__)
MITIGATING = (PhaseName.CONTAIN, PhaseName.RECOVER)
SNAPSHOT = state_key(FIRST_FIVE, "snapshot-executions")


@dataclass(frozen=True)
class Resolved:
    incident: Incident
    cancelled: list[str]  # requests that were pending or approved and will now never run
    postmortem: bool  # the runbook wants a post-mortem draft (SEV-1 and SEV-2)
    in_effect: list[ApprovalRequest]  # kill switches still in effect in the org: a revert is still possible


class LifecycleService:
    def __init__(
        self,
        incidents: IncidentStore,
        timeline: TimelineService,
        audit: AuditService,
        steps: WalkthroughStore,
        evidence: EvidenceStore,
        approvals: ApprovalService,
        access: Access,
        runbook: Runbook,
        clock: Clock,
        timezone: ZoneInfo,
        integration_user: Callable[[], str | None],
        events: EventSink,
        tracked: TrackedStore,
        trackers: tuple[str, ...],
    ) -> None:
        self.store = incidents
        self.evidence = evidence
        self.timeline = timeline
        self.audit = audit
        self.steps = steps
        self.approvals = approvals
        self.access = access
        self.runbook = runbook
        self.clock = clock
        self.timezone = timezone
        self.integration_user = integration_user  # the Salesforce user the bot runs as, when it can be known
        self.events = events
        self.tracked = tracked  # the action items' issues, for the draft
        self.trackers = trackers
        self.template: Template = compile_template(runbook.postmortem_template)

    def incident(self, number: int) -> Incident:
        return incident_or_refuse(self.store.get(number), number, open_only=False)

    def open_incident(self, number: int) -> Incident:
        return incident_or_refuse(self.store.get(number), number, open_only=True)

    # ----- notes, milestones, action items

    def acting(self, number: int, actor: str, *, open_only: bool = True) -> Incident:
        """The incident, when `actor` may change it (UserError with why, otherwise)."""
        incident = self.open_incident(number) if open_only else self.incident(number)
        self.access.require(incident, actor, Privilege.ACT)
        return incident

    def note(self, number: int, actor: str, text: str) -> None:
        self.timeline.record(self.acting(number, actor).number, EntryKind.NOTE, text, actor)

    def mark(self, number: int, milestone: Milestone, at: datetime, actor: str) -> Incident:
        """A milestone a person sets (`/incident signal`, `/incident mitigated`)."""
        self.acting(number, actor, open_only=False)
        return self.set_milestone(number, milestone, at, actor)

    def set_milestone(self, number: int, milestone: Milestone, at: datetime, actor: str | None) -> Incident:
        """Sets a milestone, refusing one that would come before an earlier one (or after a later one)."""
        incident = self.incident(number)
        try:
            check_order(incident, milestone, at, self.timezone)
        except MilestoneError as error:
            raise UserError(str(error)) from None
        events: list[Event] = []
        if milestone is Milestone.ACKNOWLEDGED:
            events.append(Acknowledged(incident=number, at=at, actor=actor))
        elif milestone is Milestone.MITIGATED:
            events.append(Mitigated(incident=number, at=at, actor=actor))
        incident = self.store.update(incident, events=events, **{FIELDS[milestone]: at})
        self.timeline.record(number, EntryKind.MILESTONE, milestone.value.capitalize(), actor, at=at)
        return incident

    def contained(self, number: int, at: datetime) -> None:
        """The first verified containment marks the incident mitigated, unless someone already did."""
        incident = self.store.get(number)
        if incident is None or incident.mitigated_at is not None:
            return
        try:
            self.set_milestone(number, Milestone.MITIGATED, at, None)
        except UserError:
            logger.info("containment of incident %s not marked as mitigated: out of order", number)

    def add_action(self, number: int, actor: str, text: str, owner: str | None, due: date | None) -> ActionItem:
        item = ActionItem(text=text, owner=owner, due=due, added_by=actor, added_at=self.clock.now())
        self.store.add_action(self.acting(number, actor).number, item, item.added_at, actor)
        self.timeline.record(number, EntryKind.NOTE, f"Action item: {text}", actor)
        return item

    def timeline_entries(self, number: int) -> tuple[Incident, list[TimelineEntry]]:
        return self.incident(number), self.timeline.entries(number)

    # ----- resolving and the post-mortem

    def resolve(self, number: int, actor: str, root_cause: str, customer_impact: str, lessons: str) -> Resolved:
        incident = self.open_incident(number)
        self.access.require(incident, actor, Privilege.RESOLVE)
        if needs_postmortem(incident.severity) and not root_cause:
            raise UserError(ROOT_CAUSE_REQUIRED)
        incident = self.set_milestone(number, Milestone.RESOLVED, self.clock.now(), actor)
        incident = self.store.update(
            incident,
            events=[ResolvedEvent(incident=number, at=self.clock.now(), actor=actor)],
            status=IncidentStatus.RESOLVED,
            root_cause=root_cause,
            customer_impact=customer_impact,
            lessons=lessons,
        )
        held = self.approvals.still_in_effect(number)
        if held:
            titles = "; ".join(f"{request.title} ({request.id})" for request in held)
            self.timeline.record(number, EntryKind.STATUS, f"Still in effect at resolve: {titles}")
        self.timeline.record(number, EntryKind.STATUS, f"{incident.reference} resolved", actor)
        # Resolved first, then what was not sent is cancelled: a click or a worker in between finds it closed.
        cancelled = self.approvals.cancel_open(number, actor)
        return Resolved(incident, cancelled, needs_postmortem(incident.severity), held)

    def postmortem(self, number: int, mention: Callable[[str], str]) -> str:
        """The draft in Markdown, with people written by `mention`."""
        incident = self.incident(number)
        snapshot = self.steps.result(number, SNAPSHOT)
        window = ""
        if snapshot is not None:
            step = self.runbook.step(FIRST_FIVE, "snapshot-executions")
            bounds = window_values(step, snapshot.at) if step else {}
            if bounds:
                window = (
                    f"{bounds['since'].astimezone(self.timezone):%Y-%m-%d %H:%M} to "
                    f"{bounds['until'].astimezone(self.timezone):%H:%M}"
                )
        results = [r.rows for r in self.steps.results(number).values()]
        suspects = self.approvals.targets(number, "user_id")
        suspects |= {v for k, v in self.steps.parameters(number).items() if k == "suspect_user_id"}
        customer = impact(
            incident, snapshot.rows if snapshot else None, window, results, self.integration_user(), suspects
        )
        draft = build(
            incident,
            self.runbook.severities[incident.severity],
            self.timeline.entries(number),
            self.audit.entries(number),
            customer,
            self.store.actions(number),
            self.steps_taken(number),
            self.timezone,
            self.evidence.get(number),
            self.runbook.labels(titled=True),
            *issue_cells(self.tracked.issues(number, self.trackers), self.timezone),
        )
        return render_postmortem(self.template, draft, mention)

    def steps_taken(self, number: int) -> list[StepTaken]:
        """The contain and recover steps of the incident's playbooks that were done or run, in time order; kill
        switch steps are left to the audit rows, which say what the org was sent."""
        snapshot = self.steps.snapshot(number)
        taken = []
        for key in snapshot.playbooks:
            playbook = self.runbook.playbook(key)
            phases = [p for p in playbook.phases if p.name in MITIGATING] if playbook else []
            for phase in phases:
                for _, step in visible(phase.steps, key, snapshot.states):
                    state = snapshot.state(state_key(key, step.id))
                    if state.status is StepStatus.DONE and state.at and kind_of(step).in_steps_taken:
                        taken.append((state.at, StepTaken(step.title, state.by, "", state.result)))
        taken.sort(key=lambda pair: pair[0])
        return [
            StepTaken(step.title, step.by, f"{at.astimezone(self.timezone):%H:%M}", step.result) for at, step in taken
        ]

    def publish_postmortem(self, number: int, destination: DraftDestination) -> str:
        """Writes the draft where `destination` keeps it, one writer at a time across processes (two requests
        never make two documents); the timeline and the subscribers hear of it. Where it went, for the person."""
        with self.store.locked(number, "postmortem"):
            written = destination.write(self.incident(number), lambda mention: self.postmortem(number, mention))
        self.timeline.record(number, EntryKind.NOTE, f"Post-mortem draft {written.where}")
        self.events.publish(PostmortemPublished(incident=number, at=self.clock.now()))
        return written.said

    def republish_postmortem(self, number: int, destination: DraftDestination) -> None:
        """The draft again, in place, where one was written already (an action item changed in its tracker): not
        a new publication, so neither the timeline nor the subscribers hear of it."""
        if destination.holds_draft(number):
            with self.store.locked(number, "postmortem"):
                destination.write(self.incident(number), lambda mention: self.postmortem(number, mention))
