"""Measuring the incident: the runbook's probes run in parallel off the request path, within a budget, on declare
and on `/incident probe`. What they find ranks the playbooks in the picker, goes on the timeline and into the
post-mortem, and is compared with the declared severity: a disagreement is a suggestion, never a change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.adapters.redis_store.evidence import EvidenceStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.core.access import Privilege
from bot.core.clock import Clock
from bot.core.evidence import (
    Finding,
    Probed,
    Ranked,
    SeveritySuggestion,
    Status,
    earlier_window,
    evaluate,
    no_data,
    rank,
    stated,
    suggest_severity,
)
from bot.core.incident import Incident
from bot.core.playbook import SAMPLE_MINUTES, GrowthRule, Probe, window_values
from bot.core.timeline import EntryKind
from bot.core.walkthrough import StepResult
from bot.kinds import Step, kind_of
from bot.kinds.base import RunContext, StepFailed
from bot.runbook import Runbook
from bot.services.access import Access
from bot.services.errors import UserError, incident_or_refuse
from bot.services.timeline import TimelineService

logger = logging.getLogger(__name__)
# Threads for every incident's probes. One run per incident at a time (a run is about nine queries), so one
# incident cannot flood the pool; this many leaves room for several incidents declared at once, and matches the
# Salesforce session's 32 connections.
PROBE_THREADS = 32
PROBE_ROWS = 2000  # one page: a probe reads an aggregate or a few rows, never an export
BOT = "the bot"  # who starts the probes of a declaration
RUN_GRACE_SECONDS = 30  # a run's claim outlives its budget by this much, should its process die mid-run


@dataclass(frozen=True)
class Reading:
    """One probe's queries in flight: its window, and for a rise the window before, read at the same time."""

    playbook: str | None
    probe: Probe[Step]
    windows: tuple[Future[StepResult], ...]


@dataclass(frozen=True)
class ProbeRun:
    """Probes in flight for an incident, since `started` (monotonic seconds)."""

    number: int
    at: datetime
    started: float
    readings: tuple[Reading, ...]


@dataclass(frozen=True)
class ProbesDone:
    """A finished run: what it found, the severity suggestion if any, each playbook's symptoms that no probe
    measures (title, symptoms) and the playbooks' names for people."""

    incident: Incident
    probed: Probed
    suggestion: SeveritySuggestion | None
    unprobed: tuple[tuple[str, tuple[str, ...]], ...]
    labels: dict[str, str]


class EvidenceService:
    def __init__(
        self,
        store: EvidenceStore,
        incidents: IncidentStore,
        timeline: TimelineService,
        runbook: Runbook,
        clock: Clock,
        org: SalesforceGateway | None,
        budget_seconds: float,
        access: Access,
        step_settings: Mapping[str, str | None],
    ) -> None:
        self.step_settings = step_settings
        self.access = access
        self.store = store
        self.incidents = incidents
        self.timeline = timeline
        self.runbook = runbook
        self.clock = clock
        self.org = org
        self.budget_seconds = budget_seconds
        self.pool = ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")

    def start(self, incident: Incident, by: str = BOT) -> ProbeRun | None:
        """Starts every probe at once (None when Salesforce is not connected, the runbook has none, or a run is
        already in flight for the incident); `finish` ends the run."""
        probes = self.runbook.probes()
        if self.org is None or not probes:
            return None
        if self.store.start_run(incident.number, by, self.budget_seconds + RUN_GRACE_SECONDS) is not None:
            return None
        now = self.clock.now()
        self.store.save(incident.number, Probed(at=now, probes=len(probes)))
        context = self._context(now)
        readings = []
        for playbook, probe in probes:
            bounds = window_values(probe.query, now)
            windows = [bounds, earlier_window(bounds)] if probe.rule.type == "rise" else [bounds]
            run = kind_of(probe.query).run
            futures = tuple(self.pool.submit(run, probe.query, dict(window), context) for window in windows)
            readings.append(Reading(playbook, probe, futures))
        return ProbeRun(incident.number, now, time.monotonic(), tuple(readings))

    def finish(self, run: ProbeRun) -> ProbesDone:
        """Waits for the probes until the budget is spent; a probe still out then is "no data", never healthy.
        Ends the incident's run: another may start."""
        try:
            left = max(0.0, self.budget_seconds - (time.monotonic() - run.started))
            done, _ = wait([future for reading in run.readings for future in reading.windows], timeout=left)
            findings = [self._finding(reading, done, run.at) for reading in run.readings]
            probed = Probed(at=run.at, done=True, probes=len(findings), findings=tuple(findings))
            self.store.save(run.number, probed)
        finally:
            self.store.end_run(run.number)
        incident = incident_or_refuse(self.incidents.get(run.number), run.number, open_only=False)
        self._record(incident, findings)
        suggestion = suggest_severity(self.runbook.severities, findings, incident.severity)
        if suggestion is not None:
            self.timeline.record(run.number, EntryKind.SEVERITY, suggestion_text(suggestion, incident))
        unprobed = tuple((f"{p.number}. {p.title}", p.unprobed) for p in self.runbook.playbooks if p.unprobed)
        return ProbesDone(incident, probed, suggestion, unprobed, self.runbook.labels())

    def _finding(self, reading: Reading, done: set[Future[StepResult]], at: datetime) -> Finding:
        probe, playbook = reading.probe, reading.playbook
        if any(future not in done for future in reading.windows):
            for future in reading.windows:
                future.cancel()
            return no_data(probe, playbook, f"no data: no answer within {self.budget_seconds:g} s")
        try:
            results = [future.result() for future in reading.windows]
        except StepFailed as failure:
            return no_data(probe, playbook, f"no data: {failure}")
        except Exception:
            logger.exception("probe %s failed unexpectedly", probe.id)
            return no_data(probe, playbook, "no data: the bot hit an unexpected error; see its logs")
        if isinstance(probe.rule, GrowthRule):
            return evaluate(probe, playbook, results[0], self._measured(probe, probe.rule, results[0]), at)
        return evaluate(probe, playbook, results[0], results[1] if len(results) > 1 else None, at)

    def _measured(self, probe: Probe[Step], rule: GrowthRule, now: StepResult) -> StepResult | None:
        """Records a growth probe's count, and returns the one the bot measured `over_minutes` before (within a
        sampling interval of it), as a result to compare with."""
        then = self.store.sample_near(
            probe.id, now.at - timedelta(minutes=rule.over_minutes), timedelta(minutes=SAMPLE_MINUTES)
        )
        self.store.record_sample(probe.id, now.at, now.total)
        if then is None:
            return None
        return StepResult(at=then[0], statement="the bot's earlier count", rows=[], total=then[1])

    def sample(self) -> int:
        """The worker's measurement of every growth probe's count, every SAMPLE_MINUTES (one process per slot);
        the number measured. A probe that fails is left for the next slot."""
        growing = [probe for _, probe in self.runbook.probes() if isinstance(probe.rule, GrowthRule)]
        if self.org is None or not growing:
            return 0
        context = self._context(self.clock.now())
        measured = 0
        for probe in growing:
            try:
                result = kind_of(probe.query).run(probe.query, {}, context)
            except StepFailed as failure:
                logger.warning("probe %s could not be measured: %s", probe.id, failure)
                continue
            self.store.record_sample(probe.id, result.at, result.total)
            measured += 1
        return measured

    def _context(self, now: datetime) -> RunContext:
        """What a probe's query runs with: the org, a page of rows at most, the operator's pattern settings."""
        return RunContext(
            org=self.org, status_pages=None, now=now, export_limit=PROBE_ROWS, step_settings=self.step_settings
        )

    def sampling_due(self) -> bool:
        """True once per sampling slot, for the one process that claims it."""
        return self.org is not None and self.store.claim_sampling(SAMPLE_MINUTES * 60 - 5)

    def _record(self, incident: Incident, findings: list[Finding]) -> None:
        """Each finding with evidence on the timeline, and one line for the rest (no evidence is news too)."""
        titles = self.runbook.labels()
        for finding in findings:
            if finding.status is Status.EVIDENCE:
                where = titles.get(finding.playbook or "", "Measured")
                self.timeline.record(incident.number, EntryKind.EVIDENCE, f"{where} · {stated(finding)}")
        clear = sum(f.status is Status.CLEAR for f in findings)
        missing = sum(f.status is Status.NO_DATA for f in findings)
        found = len(findings) - clear - missing
        self.timeline.record(
            incident.number,
            EntryKind.EVIDENCE,
            f"Probes: {len(findings)} run, {found} with evidence, {clear} found nothing, {missing} no data",
        )

    def probe_again(self, number: int, actor: str) -> ProbeRun:
        """`/incident probe`: every probe again, now (`finish` collects them); one run per incident at a time."""
        incident = incident_or_refuse(self.incidents.get(number), number, open_only=True)
        self.access.require(incident, actor, Privilege.ACT)
        if self.org is None:
            raise UserError("Salesforce is not connected, so the bot cannot probe the org: set it up (see README).")
        run = self.start(incident, actor)
        if run is None:
            raise UserError(f"The probes of {incident.reference} are already running; the picker shows what they find.")
        self.timeline.record(number, EntryKind.EVIDENCE, "Probes run again", actor)
        return run

    def ranking(self, number: int) -> tuple[Probed | None, list[Ranked]]:
        probed = self.store.get(number)
        return probed, rank(self.runbook.playbooks, probed.findings if probed else ())

    def rows_shown(self, number: int, link: str) -> None:
        """Where the rows of the latest run are shown in the channel (the picker links to it)."""
        probed = self.store.get(number)
        if probed is not None:
            self.store.save(number, probed.model_copy(update={"rows_link": link}))


def suggestion_text(suggestion: SeveritySuggestion, incident: Incident) -> str:
    """What was measured, the matrix's own words, and what the bot inferred, each said as such: `Measured: 38% of
    pipeline executions failed in the last hour (160 of 421). The severity matrix's SEV-2 includes "sustained
    errors > 10%"; the bot counts 10% or more failing as that. INC-1 is declared SEV-3.`"""
    level = suggestion.measured.label
    inferred = (
        f"the bot counts {suggestion.threshold:g}% or more failing as that"
        if suggestion.threshold is not None
        else "the bot takes this finding as that"
    )
    return (
        f"Measured: {suggestion.because.line}. The severity matrix's {level} includes \u201c{suggestion.reads_as}"
        f"\u201d; {inferred}. {incident.reference} is declared {suggestion.declared.label}."
    )
