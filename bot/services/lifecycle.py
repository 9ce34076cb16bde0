"""An incident after its declaration: notes, milestones, action items, the timeline view, resolving, and the
post-mortem draft (a channel canvas, or a Markdown file where canvases are refused)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from jinja2 import Template

from bot.adapters.redis_store import AuditStore, IncidentStore, WalkthroughStore
from bot.adapters.slack_api import SlackApi, SlackCallFailed
from bot.core.clock import Clock
from bot.core.incident import Incident, IncidentStatus
from bot.core.milestones import FIELDS, Milestone, MilestoneError, check_order
from bot.core.playbook import FIRST_FIVE, window_values
from bot.core.postmortem import ActionItem, build, impact
from bot.core.runbook import Runbook
from bot.core.severity import Severity
from bot.core.timeline import EntryKind
from bot.core.walkthrough import state_key
from bot.render.blocks import Blocks
from bot.render.postmortem import canvas_mention, compile_template, plain_mention, render_postmortem
from bot.render.timeline import timeline_message
from bot.services.errors import UserError
from bot.services.incidents import IncidentService
from bot.services.timeline import TimelineService

logger = logging.getLogger(__name__)

SNAPSHOT = state_key(FIRST_FIVE, "snapshot-executions")
# Canvas errors of workspaces that cannot have them (free plans, disabled by an admin): fall back to a file.
NO_CANVAS = frozenset(
    {
        "team_tier_cannot_create_channel_canvases",
        "free_team_canvas_tab_already_exists",
        "canvas_disabled_user_team",
        "free_teams_cannot_edit_standalone_canvases",
        "restricted_action",
        "canvas_creation_failed",
        "channel_canvas_creation_failed",
        "canvas_too_large",
    }
)
POSTMORTEM_SEVERITIES = (Severity.SEV1, Severity.SEV2)
CANVAS_LIMIT = 1_000_000  # Slack takes at most 1 MiB of canvas Markdown; a longer draft goes out as a file


class LifecycleService:
    def __init__(
        self,
        incidents: IncidentService,
        timeline: TimelineService,
        audit: AuditStore,
        steps: WalkthroughStore,
        slack: SlackApi,
        runbook: Runbook,
        clock: Clock,
        timezone: ZoneInfo,
    ) -> None:
        self.incidents = incidents
        self.store: IncidentStore = incidents.store
        self.timeline = timeline
        self.audit = audit
        self.steps = steps
        self.slack = slack
        self.runbook = runbook
        self.clock = clock
        self.timezone = timezone
        self.template: Template = compile_template(runbook.postmortem_template)

    def incident(self, number: int) -> Incident:
        incident = self.store.get(number)
        if incident is None or incident.status is IncidentStatus.DECLARING:
            raise UserError(f"There is no incident {number}.")
        return incident

    def open_incident(self, number: int) -> Incident:
        incident = self.incident(number)
        if not incident.is_open:
            raise UserError(f"{incident.reference} is resolved.")
        return incident

    # ----- notes, milestones, action items

    def note(self, number: int, actor: str, text: str) -> None:
        self.timeline.record(self.incident(number).number, EntryKind.NOTE, text, actor)

    def set_milestone(self, number: int, milestone: Milestone, at: datetime, actor: str | None) -> Incident:
        """Sets a milestone, refusing one that would come before an earlier one (or after a later one)."""
        incident = self.incident(number)
        try:
            check_order(incident, milestone, at, self.timezone)
        except MilestoneError as error:
            raise UserError(str(error)) from None
        incident = self.store.update(incident, **{FIELDS[milestone]: at})
        self.timeline.record(number, EntryKind.MILESTONE, milestone.value.capitalize(), actor, at=at)
        self.incidents.refresh_header(incident)
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
        self.store.add_action(self.incident(number).number, item)
        self.timeline.record(number, EntryKind.NOTE, f"Action item: {text}", actor)
        return item

    def timeline_page(self, number: int, page: int) -> tuple[str, Blocks]:
        incident = self.incident(number)
        return timeline_message(incident, self.timeline.entries(number), page, self.timezone)

    # ----- resolving and the post-mortem

    def resolve(self, number: int, actor: str, root_cause: str, customer_impact: str, lessons: str) -> Incident:
        incident = self.open_incident(number)
        if incident.severity in POSTMORTEM_SEVERITIES and not root_cause:
            raise UserError(f"A {incident.severity.label} needs its root cause, in one sentence.")
        incident = self.set_milestone(number, Milestone.RESOLVED, self.clock.now(), actor)
        incident = self.store.update(
            incident,
            status=IncidentStatus.RESOLVED,
            root_cause=root_cause,
            customer_impact=customer_impact,
            lessons=lessons,
        )
        self.timeline.record(number, EntryKind.STATUS, f"{incident.reference} resolved", actor)
        self.incidents.refresh_header(incident)
        if incident.severity in POSTMORTEM_SEVERITIES:
            self.publish_postmortem(number)
        return incident

    def postmortem(self, number: int, mention: Callable[[str], str] = plain_mention) -> str:
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
        customer = impact(incident, snapshot.rows if snapshot else None, window, results)
        draft = build(
            incident,
            self.runbook.severities[incident.severity],
            self.timeline.entries(number),
            [entry for _, entry in self.audit.entries(number)],
            customer,
            self.store.actions(number),
            self.timezone,
        )
        return render_postmortem(self.template, draft, mention)

    def publish_postmortem(self, number: int) -> str:
        """Writes the draft to the channel's canvas, or, where canvases are refused, as a Markdown file; again
        updates the same document (one writer at a time, so two requests never make two documents)."""
        with self.store.locked(number, "postmortem"):
            return self._publish_postmortem(number)

    def _publish_postmortem(self, number: int) -> str:
        incident = self.incident(number)
        assert incident.channel_id is not None
        try:
            markdown = self.postmortem(number, canvas_mention)
            if len(markdown) > CANVAS_LIMIT:
                raise SlackCallFailed("conversations.canvases.create", "canvas_too_large")
            if incident.postmortem_canvas:
                self.slack.replace_canvas(incident.postmortem_canvas, markdown)
            else:
                canvas = self.slack.create_channel_canvas(incident.channel_id, markdown)
                self.store.update(incident, postmortem_canvas=canvas)
            self.timeline.record(number, EntryKind.NOTE, "Post-mortem draft written to the channel canvas")
            return "the channel canvas"
        except SlackCallFailed as failure:
            if failure.error not in NO_CANVAS:
                raise
        markdown = self.postmortem(number, plain_mention)
        if incident.postmortem_file:
            self.slack.delete_file(incident.postmortem_file)
        name = f"{incident.reference.lower()}-postmortem.md"
        file_id = self.slack.upload(
            incident.channel_id, name, markdown.encode(), f"Post-mortem draft: {incident.title}"
        )
        self.store.update(incident, postmortem_file=file_id)
        self.timeline.record(number, EntryKind.NOTE, "Post-mortem draft uploaded as a Markdown file")
        return "a Markdown file (this workspace does not allow canvases)"
