"""The post-mortem draft: the runbook's eight sections as data, filled from the incident, its timeline, the audit
trail, the Salesforce snapshot and the action items, and rendered to Markdown by the template in `playbooks/`.

The template runs in jinja2's sandbox (whoever edits `playbooks/` cannot reach the process that holds the
secrets), and people's text goes through the `md` filter: it cannot open a block, a heading, a link or a
table cell of its own in the draft.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict

from bot.core.audit import EMPTY, AuditEntry, AuditHead, AuditKind
from bot.core.evidence import Probed, stated
from bot.core.incident import Incident
from bot.core.milestones import Milestone, durations, moment
from bot.core.severity import SeverityLevel
from bot.core.timeline import TimelineEntry

SECTIONS = (
    "Timeline",
    "Root cause",
    "Detection",
    "Mitigation",
    "Recovery",
    "Customer impact",
    "Action items",
    "Lessons learned",
)


class ActionItem(BaseModel):
    """A follow-up; the runbook wants each owned and dated, so a missing owner or date is flagged."""

    model_config = ConfigDict(frozen=True)
    text: str
    owner: str | None = None
    due: date | None = None
    added_by: str
    added_at: datetime

    @property
    def problems(self) -> list[str]:
        return [p for p, missing in (("no owner", self.owner is None), ("no due date", self.due is None)) if missing]


@dataclass(frozen=True)
class TimelineRow:
    offset: str
    time: str
    actor: str | None
    kind: str
    text: str
    permalink: str | None


@dataclass(frozen=True)
class MitigationRow:
    title: str
    reason: str
    requested_by: str | None
    requested_at: str
    decision: str  # approved, denied, expired or pending
    decided_by: str | None
    decided_at: str
    execution: str  # executed, dry run, failed or not run
    result: str
    verification: str  # verified, NOT verified, not checked


@dataclass(frozen=True)
class Milestones:
    first_signal: str
    declared: str
    acknowledged: str
    mitigated: str
    resolved: str
    to_detect: str
    to_acknowledge: str
    to_mitigate: str
    to_resolve: str


@dataclass(frozen=True)
class SeenUser:
    user_id: str
    suspect: bool  # named as the suspect in a form or a lockout request


@dataclass(frozen=True)
class CustomerImpact:
    written: str
    failed_executions: int | None
    total_executions: int | None
    snapshot_window: str
    affected_users: list[SeenUser]


@dataclass(frozen=True)
class Detected:
    """What one probe found in the org (at declare, or at the last `/incident probe`)."""

    where: str  # the playbook it ranks, or "Measured" for the first five minutes' measurements
    symptom: str
    status: str
    line: str


@dataclass(frozen=True)
class StepTaken:
    """A containment or recovery step the responders did or ran (the kill switches are in the audit rows)."""

    title: str
    by: str | None
    at: str
    result: str


@dataclass(frozen=True)
class PostMortem:
    number: int
    reference: str
    title: str
    severity: str
    definition: str
    commander: str
    declared_by: str
    summary: str
    timezone: str
    status: str
    drill: bool
    milestones: Milestones
    timeline: list[TimelineRow]
    root_cause: str
    signal_recorded: bool  # set with /incident signal; without it the time to detect is not known
    mitigation: list[MitigationRow]
    steps_taken: list[StepTaken]
    detection: list[Detected]
    probed_at: str  # when the probes ran ("" when they never did)
    audit_head: str  # COUNT:HASH of the audit trail the draft was written from
    impact: CustomerImpact
    actions: list[ActionItem]
    lessons: str
    issues: dict[int, str] = field(default_factory=dict)  # item place -> its issues, as Markdown (inert)
    done: frozenset[int] = frozenset()  # the places of items done in their tracker
    sections: tuple[str, ...] = SECTIONS


def _clock(moment_: datetime | None, timezone: ZoneInfo) -> str:
    return moment_.astimezone(timezone).strftime("%Y-%m-%d %H:%M") if moment_ else "not yet"


def _span(span: timedelta | None, missing: str = "not yet") -> str:
    if span is None:
        return missing
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _offset(at: datetime, start: datetime) -> str:
    minutes = int((at - start).total_seconds() // 60)
    return f"T+{minutes:02d}" if minutes >= 0 else f"T-{-minutes:02d}"


def mitigation(entries: list[AuditEntry], timezone: ZoneInfo) -> list[MitigationRow]:
    """One row per kill-switch or destructive-step request, read from the audit trail."""
    requests: dict[str, list[AuditEntry]] = {}
    for entry in entries:
        requests.setdefault(entry.request, []).append(entry)
    rows = []
    for trail in requests.values():
        first = trail[0]
        by_kind = {entry.kind: entry for entry in trail}
        decision = next(
            (by_kind[k] for k in (AuditKind.APPROVED, AuditKind.DENIED, AuditKind.EXPIRED) if k in by_kind), None
        )
        execution = next(
            (by_kind[k] for k in (AuditKind.EXECUTED, AuditKind.DRY_RUN, AuditKind.FAILED) if k in by_kind), None
        )
        verification = next((by_kind[k] for k in (AuditKind.VERIFIED, AuditKind.UNVERIFIED) if k in by_kind), None)
        rows.append(
            MitigationRow(
                title=str(first.details.get("title", first.summary)),
                reason=str(first.details.get("reason", "")),
                requested_by=first.actor,
                requested_at=_clock(first.at, timezone),
                decision=decision.kind.value if decision else "pending",
                decided_by=decision.actor if decision else None,
                decided_at=_clock(decision.at, timezone) if decision else "",
                execution=execution.kind.value if execution else "not run",
                result=execution.summary if execution else "",
                verification=("verified" if verification.kind is AuditKind.VERIFIED else "NOT verified")
                + f": {verification.details.get('observed', '')}"
                if verification
                else "not checked",
            )
        )
    return rows


def impact(
    incident: Incident,
    snapshot: list[dict[str, Any]] | None,
    snapshot_window: str,
    results: list[list[dict[str, Any]]],
    integration_user: str | None,
    suspects: set[str],
) -> CustomerImpact:
    """The snapshot's numbers and the users the query results name: not the bot's own integration user (its test
    publish writes audit rows too), suspects marked. Ids compare on their first 15 characters."""
    failed = total = None
    if snapshot is not None:
        failed = sum(int(row.get("c") or 0) for row in snapshot if row.get("Status__c") == "Failed")
        total = sum(int(row.get("c") or 0) for row in snapshot)
    actors = sorted({str(row["Actor_Id__c"]) for rows in results for row in rows if row.get("Actor_Id__c")})
    bot, marked = (integration_user or "")[:15], {s[:15] for s in suspects}
    seen = [SeenUser(actor, actor[:15] in marked) for actor in actors if not bot or actor[:15] != bot]
    return CustomerImpact(incident.customer_impact, failed, total, snapshot_window, seen)


def build(
    incident: Incident,
    level: SeverityLevel,
    entries: list[TimelineEntry],
    audit: list[AuditEntry],
    customer_impact: CustomerImpact,
    actions: list[ActionItem],
    steps_taken: list[StepTaken],
    timezone: ZoneInfo,
    probed: Probed | None,
    playbook_titles: dict[str, str],
    issues: dict[int, str] | None = None,
    done: frozenset[int] = frozenset(),
) -> PostMortem:
    signal = moment(incident, Milestone.FIRST_SIGNAL)
    assert signal is not None
    end = incident.resolved_at
    rows = [
        TimelineRow(_offset(e.at, signal), _clock(e.at, timezone)[-5:], e.actor, e.kind.value, e.text, e.permalink)
        for e in entries
        if end is None or e.at <= end
    ]
    spans = durations(incident)
    return PostMortem(
        number=incident.number,
        reference=incident.reference,
        title=incident.title,
        severity=incident.severity.label,
        definition=level.definition,
        commander=incident.commander,
        declared_by=incident.declared_by,
        summary=incident.summary,
        timezone=str(timezone),
        status=incident.status.value,
        drill=incident.drill,
        milestones=Milestones(
            first_signal=_clock(incident.first_signal_at, timezone) if incident.first_signal_at else "not recorded",
            declared=_clock(incident.declared_at, timezone),
            acknowledged=_clock(incident.acknowledged_at, timezone),
            mitigated=_clock(incident.mitigated_at, timezone),
            resolved=_clock(incident.resolved_at, timezone),
            to_detect=_span(spans.to_detect, "not recorded"),
            to_acknowledge=_span(spans.to_acknowledge),
            to_mitigate=_span(spans.to_mitigate),
            to_resolve=_span(spans.to_resolve),
        ),
        timeline=rows,
        root_cause=incident.root_cause,
        signal_recorded=incident.first_signal_at is not None,
        mitigation=mitigation(audit, timezone),
        steps_taken=steps_taken,
        detection=detected(probed, playbook_titles),
        probed_at=_clock(probed.at, timezone) if probed and probed.done else "",
        audit_head=AuditHead(len(audit), audit[-1].hash).short if audit else EMPTY.short,
        impact=customer_impact,
        actions=actions,
        lessons=incident.lessons,
        issues=issues or {},
        done=done,
    )


def detected(probed: Probed | None, playbook_titles: dict[str, str]) -> list[Detected]:
    """The probes' findings, evidence first (strongest first), then no data, then clear."""
    if probed is None or not probed.done:
        return []
    findings = probed.in_order()
    return [
        Detected(playbook_titles.get(f.playbook or "", "Measured"), f.symptom, f.status.value, stated(f))
        for f in findings
    ]


_INLINE = re.compile(r"([\\`\[\]<>|])")  # code, links and images, HTML, table cells
_LINE_START = re.compile(r"^(\d*)([#>+.)-])")  # a heading, a quote, a list item (`-`, `+`, `1.`, `1)`)


def markdown_text(text: object) -> str:
    """People's text made inert in Markdown: one line; what would make code, a link, an image, HTML or a new
    table cell is escaped, and so is what would start a heading, a quote or a list."""
    one_line = _INLINE.sub(r"\\\1", " ".join(str(text).split()))
    return _LINE_START.sub(r"\1\\\2", one_line)


def compile_template(source: str) -> Template:
    environment = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
    )
    environment.filters["md"] = markdown_text
    environment.filters["cell"] = markdown_text
    return environment.from_string(source)


def render_postmortem(template: Template, postmortem: PostMortem, mention: Callable[[str], str]) -> str:
    """The draft in Markdown; `mention` writes a person as the destination wants (a canvas, a plain file)."""

    def who(user: str | None) -> str:
        return mention(user) if user else "the bot"

    return template.render(pm=postmortem, who=who)


def specimen() -> PostMortem:
    """A draft with every field and list filled: what `playbooks check` renders a template with, so a name the
    template misspells, or an attribute the sandbox refuses, shows before an incident needs the draft."""
    words, at = "specimen text", datetime(2026, 1, 1, tzinfo=UTC)
    return PostMortem(
        number=1,
        reference="INC-1",
        title=words,
        severity="SEV-1",
        definition=words,
        commander="U1",
        declared_by="U1",
        summary=words,
        timezone="UTC",
        status="resolved",
        drill=True,
        milestones=Milestones(*(["2026-01-01 00:00"] * 5 + ["1 min"] * 4)),
        timeline=[TimelineRow("00", "00:00", "U1", "note", words, "https://example.invalid/")],
        root_cause=words,
        signal_recorded=True,
        mitigation=[MitigationRow(words, words, "U1", "00:00", "approved", "U2", "00:01", "executed", words, words)],
        steps_taken=[StepTaken(words, "U1", "00:00", words)],
        detection=[Detected(words, words, "evidence", words)],
        probed_at="2026-01-01 00:00",
        audit_head=EMPTY.short,
        impact=CustomerImpact(words, 1, 2, words, [SeenUser("005000000000001", suspect=True)]),
        actions=[ActionItem(text=words, owner="U1", due=at.date(), added_by="U1", added_at=at)],
        lessons=words,
        issues={0: words},
        done=frozenset({0}),
    )
