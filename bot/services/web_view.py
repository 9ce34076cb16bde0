"""What the web view shows: the incidents (filtered, a page at a time), one incident in full, and insights. It
reads and never changes anything. A private incident exists here only for the members of its channel."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.adapters.redis_store.approvals import ApprovalStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.timeline import TimelineStore
from bot.adapters.redis_store.walkthrough import WalkthroughStore
from bot.adapters.redis_store.web import WebStore
from bot.core.approval import ApprovalRequest, Outcome, RequestStatus
from bot.core.clock import Clock
from bot.core.commands import MENTION
from bot.core.incident import Incident, IncidentStatus
from bot.core.insights import IncidentFacts, WeekRow, weekly
from bot.core.milestones import Durations, durations
from bot.core.playbook import FIRST_FIVE, StepBase
from bot.core.postmortem import ActionItem
from bot.core.response import Countdown, countdown
from bot.core.severity import Severity
from bot.core.timeline import EntryKind, TimelineEntry
from bot.core.walkthrough import StepState, state_key, visible
from bot.runbook import Runbook
from bot.services.audit import AuditService
from bot.services.lifecycle import LifecycleService
from bot.services.ports import Workspace, WorkspaceError
from bot.services.sign_in import Viewer
from bot.services.timeline import TimelineService
from bot.services.timers import Deadlines

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
MEMBERS_SECONDS = 60  # how long a private channel's members are taken as Slack last said
NAMES_SECONDS = 600
TEXT_MAX = 100
EXECUTED = frozenset({RequestStatus.EXECUTED, RequestStatus.APPLIED})


class BadFilter(ValueError):
    """A filter of the list that cannot be read; one sentence."""


@dataclass(frozen=True)
class Filters:
    status: str = ""  # open, closed or any
    severity: Severity | None = None
    drill: str = ""  # only, none or any
    text: str = ""
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        status, drill = query.get("status", "").strip(), query.get("drill", "").strip()
        if status not in ("", "open", "closed"):
            raise BadFilter("Status is open, closed, or empty for both.")
        if drill not in ("", "only", "none"):
            raise BadFilter("Drills are 'only', 'none', or empty for both.")
        severity = None
        if raw := query.get("severity", "").strip():
            try:
                severity = Severity.parse(raw)
            except ValueError as error:
                raise BadFilter(str(error)) from None
        text = " ".join(query.get("q", "").split())
        if len(text) > TEXT_MAX:
            raise BadFilter(f"Search for at most {TEXT_MAX} characters.")
        page = query.get("page", "1").strip() or "1"
        if not page.isdigit() or int(page) < 1:
            raise BadFilter("The page is a whole number from 1.")
        return cls(status, severity, drill, text, int(page))

    def keep(self, incident: Incident) -> bool:
        if self.status and (self.status == "open") != incident.is_open:
            return False
        if self.severity is not None and incident.severity is not self.severity:
            return False
        if self.drill and (self.drill == "only") != incident.drill:
            return False
        haystack = f"{incident.reference} {incident.title} {incident.channel_name or ''}".lower()
        return all(word in haystack for word in self.text.lower().split())

    def query(self, **changes: object) -> dict[str, str]:
        """The query string of these filters (with `changes`), without the empty ones: a link to the list."""
        values = {
            "status": self.status,
            "severity": self.severity.label if self.severity else "",
            "drill": self.drill,
            "q": self.text,
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update({name: str(value) for name, value in changes.items()})
        if values["page"] == "1":  # the first page is the list without one
            values["page"] = ""
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class IncidentRow:
    incident: Incident
    durations: Durations


@dataclass(frozen=True)
class IncidentList:
    rows: list[IncidentRow]
    total: int
    filters: Filters
    pages: int


@dataclass(frozen=True)
class StepView:
    scope: str
    title: str
    depth: int
    state: StepState


@dataclass(frozen=True)
class SwitchView:
    request: ApprovalRequest
    outcome: Outcome
    revert_requested_by: str | None  # who asked for its revert (that revert is a row of its own)


@dataclass(frozen=True)
class AuditView:
    intact: bool
    problem: str | None
    head: str
    entries: int


@dataclass(frozen=True)
class IncidentPage:
    incident: Incident
    durations: Durations
    severity_history: list[TimelineEntry]
    timeline: list[TimelineEntry]
    steps: list[StepView]
    switches: list[SwitchView]
    audit: AuditView
    actions: list[ActionItem]
    postmortem: str  # Markdown
    names: dict[str, str]  # user id → how Slack names them
    version: str
    team_id: str


class WebView:
    def __init__(
        self,
        incidents: IncidentStore,
        timeline: TimelineService,
        timeline_store: TimelineStore,
        steps: WalkthroughStore,
        approvals: ApprovalStore,
        audit: AuditService,
        lifecycle: LifecycleService,
        store: WebStore,
        workspace: Workspace,
        runbook: Runbook,
        deadlines: Deadlines,
        clock: Clock,
        timezone: ZoneInfo,
    ) -> None:
        self.incidents = incidents
        self.timeline = timeline
        self.timeline_store = timeline_store
        self.steps = steps
        self.approvals = approvals
        self.audit = audit
        self.lifecycle = lifecycle
        self.store = store
        self.workspace = workspace
        self.runbook = runbook
        self.deadlines = deadlines
        self.clock = clock
        self.timezone = timezone
        self._names: dict[str, tuple[str, float]] = {}
        self._names_lock = threading.Lock()

    # ----- who sees what

    def can_see(self, viewer: Viewer, incident: Incident) -> bool:
        """Every member sees a public incident; a private one, only the members of its channel."""
        if incident.status is IncidentStatus.DECLARING:
            return False
        if not incident.private:
            return True
        return bool(incident.channel_id) and viewer.user_id in self._members(str(incident.channel_id))

    def _members(self, channel: str) -> set[str]:
        cached = self.store.cached_members(channel)
        if cached is not None:
            return cached
        try:
            members = self.workspace.channel_members(channel)
        except WorkspaceError as error:  # hidden from everyone until Slack answers (asked again after a minute)
            logger.warning("web view: the members of %s could not be read (%s); hidden for now", channel, error)
            members = set()
        self.store.cache_members(channel, members, MEMBERS_SECONDS)
        return members

    def _visible(self, viewer: Viewer) -> list[Incident]:
        every = self.incidents.recent(self.incidents.last_number())
        return [incident for incident in every if self.can_see(viewer, incident)]

    # ----- the pages

    def incident_list(self, viewer: Viewer, filters: Filters) -> IncidentList:
        """Open incidents first, then the newest; PAGE_SIZE a page."""
        kept = [incident for incident in self._visible(viewer) if filters.keep(incident)]
        kept.sort(key=lambda incident: (not incident.is_open, -incident.number))
        pages = max(1, -(-len(kept) // PAGE_SIZE))
        start = (min(filters.page, pages) - 1) * PAGE_SIZE
        rows = [IncidentRow(incident, durations(incident)) for incident in kept[start : start + PAGE_SIZE]]
        return IncidentList(rows, len(kept), filters, pages)

    def incident_page(self, viewer: Viewer, number: int) -> IncidentPage | None:
        """Everything about one incident; None when there is none this viewer may see."""
        incident = self.incidents.get(number)
        if incident is None or not self.can_see(viewer, incident):
            return None
        timeline = self.timeline.entries(number)
        requests = self.approvals.all_of_incident(number)
        switches = [
            SwitchView(
                request,
                outcome,
                requests[outcome.reverted_by][0].requester if outcome.reverted_by in requests else None,
            )
            for request, outcome in requests.values()
        ]
        trail, problems = self.audit.check(number)
        head = self.audit.head(number)
        actions = self.incidents.actions(number)
        people = {incident.commander, incident.declared_by, incident.communications, incident.scribe}
        people |= {entry.actor for entry in timeline} | {s.request.requester for s in switches}
        people |= {s.outcome.decided_by for s in switches}
        people |= {user for entry in timeline for user in MENTION.findall(entry.text)}
        names = self.names(user for user in people if user)
        return IncidentPage(
            incident=incident,
            durations=durations(incident),
            severity_history=[entry for entry in timeline if entry.kind is EntryKind.SEVERITY],
            timeline=timeline,
            steps=self._steps(number),
            switches=switches,
            audit=AuditView(not problems, problems[0] if problems else None, head.short, len(trail.entries)),
            actions=actions,
            postmortem=self.lifecycle.postmortem(number, lambda user: "@" + names.get(user, user)),
            names=names,
            version=self.version(number),
            team_id=incident.team_id,
        )

    def version(self, number: int) -> str:
        """Changes whenever anything the incident page shows changes (its fields, timeline, steps, requests,
        audit trail, action items): what an open page polls for."""
        parts = [
            self.incidents.get(number),
            self.timeline_store.length(number),
            self.steps.version(number),
            [self.approvals.version(request) for request in self.approvals.of_incident(number)],
            self.audit.head(number).short,
            len(self.incidents.actions(number)),
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

    def visible_version(self, viewer: Viewer, number: int) -> str | None:
        incident = self.incidents.get(number)
        if incident is None or not self.can_see(viewer, incident):
            return None
        return self.version(number)

    def _steps(self, number: int) -> list[StepView]:
        """The first five minutes' steps and those of every playbook started, as the responders see them."""
        snapshot = self.steps.snapshot(number)
        scopes: list[tuple[str, str, tuple[StepBase, ...]]] = [
            (FIRST_FIVE, self.runbook.first_five.title, self.runbook.first_five.steps)
        ]
        labels = self.runbook.labels(titled=True)
        for key in snapshot.playbooks:
            if playbook := self.runbook.playbook(key):
                scopes.append((key, labels[key], tuple(step for phase in playbook.phases for step in phase.steps)))
        return [
            StepView(title, step.title, depth, snapshot.state(state_key(scope, step.id)))
            for scope, title, steps in scopes
            for depth, step in visible(steps, scope, snapshot.states)
        ]

    def insights(self, viewer: Viewer) -> list[WeekRow]:
        incidents = self._visible(viewer)
        playbooks = self.steps.playbooks_of([incident.number for incident in incidents])
        now = self.clock.now()
        facts = []
        for incident in incidents:
            outcomes = self.approvals.all_of_incident(incident.number).values()
            missed = countdown(incident, self.deadlines.deadline(incident), now)
            facts.append(
                IncidentFacts(
                    incident=incident,
                    target_missed=missed in (Countdown.MISSED, Countdown.ACKNOWLEDGED_LATE),
                    playbooks_run=len(playbooks.get(incident.number, [])),
                    switches_executed=sum(
                        1 for request, outcome in outcomes if outcome.status in EXECUTED and not request.reverts
                    ),
                )
            )
        return weekly(facts, self.timezone)

    # ----- people

    def names(self, users: Iterable[str]) -> dict[str, str]:
        """How Slack names each user (asked at most every NAMES_SECONDS); the id when Slack cannot say."""
        found: dict[str, str] = {}
        now = time.monotonic()
        for user in set(users):
            with self._names_lock:
                cached = self._names.get(user)
            if cached and now - cached[1] < NAMES_SECONDS:
                found[user] = cached[0]
                continue
            try:
                name = self.workspace.person(user)[0]
            except WorkspaceError:
                found[user] = user
                continue
            with self._names_lock:
                self._names[user] = (name, now)
            found[user] = name
        return found
