"""Walking responders through the first five minutes and the playbooks, one step at a time.

Each use case returns what happened (a step changed, a playbook started, a run finished, or what the person is
told because nothing changed); the walkthrough presenter shows it in Slack. A step's work is done by its kind
(`bot/kinds`): the bot runs reads for the responder, asks once before a change, and hands anything destructive
to two-person approval. In a drill, work that would change the org is a dry run that shows what would be sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

from bot.adapters.redis_store.approvals import ApprovalStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.walkthrough import WalkthroughStore
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.status_pages import StatusPages
from bot.core.access import Privilege
from bot.core.approval import approvals_run, in_effect
from bot.core.audit import AuditKind
from bot.core.clock import Clock
from bot.core.incident import Incident
from bot.core.playbook import FIRST_FIVE, PhaseName, Playbook, Risk, StepBase, window_values
from bot.core.timeline import EntryKind, TimelineEntry
from bot.core.walkthrough import (
    Preconditions,
    StepAction,
    StepResult,
    StepState,
    StepStatus,
    after,
    allowed_from,
    complete,
    run_allowed_from,
    state_key,
)
from bot.kinds import Step, kind_of
from bot.kinds.base import Capabilities, Chart, RunContext, StepFailed, StepNoAnswer
from bot.mechanisms.base import OrgSetup
from bot.runbook import Runbook, RunbookSwitches
from bot.services.access import Access
from bot.services.audit import AuditService
from bot.services.errors import UserError, incident_or_refuse
from bot.services.timeline import TimelineService
from bot.services.walkthrough_outcomes import (
    AlreadySettled,
    AskApproval,
    AskParameters,
    EarlyRun,
    PhaseDue,
    PlaybookStarted,
    RunFinished,
    RunStarted,
    StepChanged,
    Told,
    WalkthroughView,
)

logger = logging.getLogger(__name__)
FETCH_THREADS = 8


class WalkthroughService:
    def __init__(
        self,
        incidents: IncidentStore,
        steps: WalkthroughStore,
        timeline: TimelineService,
        runbook: Runbook,
        clock: Clock,
        org: SalesforceGateway | None,
        status_pages: StatusPages | None,
        step_settings: Mapping[str, str | None],
        setup: OrgSetup,
        access: Access,
        approvals: ApprovalStore,
        audit: AuditService,
    ) -> None:
        self.incidents = incidents
        self.approvals = approvals
        self.audit = audit
        self.steps = steps
        self.timeline = timeline
        self.runbook = runbook
        self.clock = clock
        self.org = org
        self.status_pages = status_pages
        self.step_settings = step_settings
        self.switches = RunbookSwitches(runbook, setup)
        self.access = access
        self.fetches = ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="fetch")

    def version(self, number: int) -> int:
        """Bumped by every change of a step: a message rendered from an older snapshot is behind."""
        return self.steps.version(number)

    def capabilities(self, incident: Incident) -> Capabilities:
        return Capabilities(
            org=self.org is not None,
            approvals=approvals_run(self.org is not None, incident.drill),
            drill=incident.drill,
            switches=self.switches,
            step_settings=self.step_settings,
        )

    def values(
        self, step: StepBase, parameters: Mapping[str, object] | None = None, at: datetime | None = None
    ) -> dict[str, object]:
        """The values a step's templates use: its time window ending `at` (now by default) and its parameters
        (placeholders for the ones not given, so a manual instruction shows where they go)."""
        given = dict(parameters or {})
        return {
            **window_values(step, at or self.clock.now()),
            **{p.name: p.default if p.default is not None else f"<{p.label}>" for p in step.parameters},
            **given,
        }

    # ----- playbooks and phases

    def start_playbook(self, number: int, key: str, actor: str) -> PlaybookStarted | Told:
        incident = self.open_incident(number)
        self.access.require(incident, actor, Privilege.ACT)
        playbook = self.runbook.playbook(key)
        if playbook is None:
            known = ", ".join(f"`{p.key}` ({p.number})" for p in self.runbook.playbooks)
            raise UserError(f"There is no playbook `{key}`. Pick one of {known}.")
        if not self.steps.start_playbook(number, playbook.key):
            return Told(f"Playbook {playbook.number}. {playbook.title} is already running in this incident.")
        self.timeline.record(number, EntryKind.PLAYBOOK, f"Playbook {playbook.number}. {playbook.title} started", actor)
        suspects = "exfiltration_suspected" in playbook.suggested_when
        return PlaybookStarted(
            incident,
            playbook,
            raise_to_sev1=suspects and incident.severity.value > 1,
            suggest_private=suspects and not incident.private,
        )

    def next_phase(self, number: int, key: str, phase: PhaseName, actor: str) -> PhaseDue:
        """**Next phase**: `actor` asks for `phase` of the running playbook `key`."""
        incident = self.open_incident(number)
        self.access.require(incident, actor, Privilege.ACT)
        playbook = self.started_playbook(number, key)
        if all(known.name is not phase for known in playbook.phases):
            raise UserError(f"Playbook {playbook.number}. {playbook.title} has no {phase.value} phase.")
        return PhaseDue(incident, playbook.key, phase, playbook.previous_phase(phase).name)

    def started_playbook(self, number: int, key: str) -> Playbook[Step]:
        playbook = self.runbook.playbook(key)
        if playbook is None or playbook.key not in self.steps.snapshot(number).playbooks:
            raise UserError(f"Playbook `{key}` is not running in this incident; start it with `/incident playbook`.")
        return playbook

    # ----- acting on steps

    def act(
        self,
        incident: Incident,
        scope: str,
        step_id: str,
        action: StepAction,
        actor: str,
        *,
        reason: str = "",
        choice: str | None = None,
    ) -> StepChanged | AlreadySettled:
        """Applies a responder's action to a step, once: a repeat or a lost race is told who did what, when. A
        destructive step is not marked done this way: `done_by_hand` asks why, and audits it. `incident` is the
        one the caller read for this click (the guard's): who may act is asked of it, and the step's script
        checks in the same round trip as the change that the incident is still open."""
        step = self.runbook_step(scope, step_id)
        self.access.require(incident, actor, Privilege.ACT)
        if action is StepAction.CHOOSE and choice not in {b.id for b in step.branches()}:
            raise UserError(f"`{choice}` is not a choice of “{step.title}”.")
        if action is StepAction.DONE and step.risk is Risk.DESTRUCTIVE:
            raise UserError(f"“{step.title}” changes production: say what was done by hand, and who checked it.")
        new = after(action, actor, self.clock.now(), reason=reason, choice=choice)
        return self.transition(incident.number, scope, step, new, allowed_from(action))

    def done_by_hand(
        self, number: int, scope: str, step_id: str, actor: str, reason: str
    ) -> StepChanged | AlreadySettled:
        """A destructive step done outside the bot: it is marked done with the person's words, never taken for
        the bot's execution, and the audit trail records who said so."""
        incident = self.open_incident(number)
        step = self.step(number, scope, step_id)
        self.access.require(incident, actor, Privilege.REQUEST)
        said = f"done by hand: {reason}"
        changed = self.transition(
            number,
            scope,
            step,
            after(StepAction.DONE, actor, self.clock.now(), reason=said),
            allowed_from(StepAction.DONE),
        )
        if isinstance(changed, StepChanged):
            self._audit_step(incident, scope, step, AuditKind.DONE_BY_HAND, actor, f"{step.title}: {said}")
        return changed

    def checked(self, number: int, scope: str, step_id: str, actor: str, what: str) -> StepChanged | AlreadySettled:
        """A change that got no answer, checked in the org by a person and found not to have run: it may run
        again, and the audit trail records who checked and what they saw."""
        incident = self.open_incident(number)
        step = self.step(number, scope, step_id)
        self.access.require(incident, actor, Privilege.RUN_CHANGE)
        changed = self.transition(
            number,
            scope,
            step,
            after(StepAction.CHECKED, actor, self.clock.now(), reason=what),
            allowed_from(StepAction.CHECKED),
        )
        if isinstance(changed, StepChanged):
            summary = f"{step.title}: checked, it did not run: {what}"
            self._audit_step(incident, scope, step, AuditKind.CHECKED, actor, summary)
        return changed

    def _audit_step(
        self, incident: Incident, scope: str, step: StepBase, kind: AuditKind, actor: str, summary: str
    ) -> None:
        subject = f"step:{state_key(scope, step.id)}"
        self.audit.record(self.audit.about(incident.number, subject, kind, actor, summary, private=incident.private))

    def transition(
        self, number: int, scope: str, step: StepBase, new: StepState, allowed: frozenset[StepStatus]
    ) -> StepChanged | AlreadySettled:
        """Moves a step in one Redis round trip; the timeline entry goes with the change."""
        kind = kind_of(step).result_entry if new.result else EntryKind.STEP
        entry = TimelineEntry(at=new.at or self.clock.now(), kind=kind, text=describe(step, new), actor=new.by)
        applied = self.steps.apply(number, scope, state_key(scope, step.id), new, allowed, entry)
        if applied.outcome == "missing":
            raise UserError(f"There is no incident {number}.")
        if applied.outcome == "closed":
            assert applied.incident is not None
            raise UserError(applied.incident.closed_sentence)
        if applied.outcome == "not_started":
            raise UserError(f"Playbook `{scope}` is not running in this incident; start it with `/incident playbook`.")
        if applied.outcome == "unchanged":
            return AlreadySettled(step, applied.current)
        assert applied.incident is not None
        if scope == FIRST_FIVE:
            return StepChanged(applied.incident, scope, step)
        playbook = self.runbook.playbook(scope)
        assert playbook is not None
        phase = playbook.phase_of(step.id)
        following = playbook.next_phase(phase.name) if complete(phase.steps, scope, applied.snapshot.states) else None
        return StepChanged(applied.incident, scope, step, phase.name, following.name if following else None)

    def runbook_step(self, scope: str, step_id: str) -> StepBase:
        step = self.runbook.step(scope, step_id)
        if step is None:
            raise UserError(
                "That step is no longer in the runbook (the playbooks changed); re-post it with `/incident playbook`."
            )
        return step

    def step(self, number: int, scope: str, step_id: str) -> StepBase:
        """A step of a playbook running in the incident (or of the first five minutes)."""
        if scope != FIRST_FIVE:
            self.started_playbook(number, scope)
        return self.runbook_step(scope, step_id)

    def open_incident(self, number: int) -> Incident:
        return incident_or_refuse(self.incidents.get(number), number, open_only=True)

    # ----- running steps

    def request_run(self, number: int, scope: str, step_id: str, actor: str) -> AskParameters | AskApproval | None:
        """The Run button: destructive work asks for approval; parameters or a change ask first, in a form;
        None means a read that runs at once."""
        incident = self.open_incident(number)
        step = self.step(number, scope, step_id)
        kind = kind_of(step)
        need = kind.approval(step, self.values(step))
        capabilities = self.capabilities(incident)
        if need is not None:
            if not capabilities.approvals:
                raise UserError(kind.unavailable(step))
            self.access.require(incident, actor, Privilege.REQUEST if need.switch or need.mechanism else Privilege.ACT)
            return AskApproval(incident, scope, step, need)
        self.access.require(incident, actor, Privilege.RUN_CHANGE if step.risk is Risk.CHANGE else Privilege.ACT)
        if self.steps.snapshot(number).state(state_key(scope, step.id)).status is StepStatus.UNKNOWN:
            raise UserError(
                f"“{step.title}” was sent without an answer, so it may have run: check the org, then say what you "
                "checked with **Checked: it did not run…** before it runs again."
            )
        if kind.display(step, capabilities, self.values(step)).run_label is None:
            raise UserError(kind.unavailable(step))
        counted = self._gate(incident, scope, step)
        if step.parameters or step.risk is Risk.CHANGE:
            window_end = self._window_end(number, scope, step)
            preview = kind.manual(step, self.values(step, at=window_end)) if step.risk is Risk.CHANGE else None
            if preview is not None and counted:
                preview = f"{counted}\n\n{preview}"
            return AskParameters(incident, scope, step, preview, self.steps.parameters(number))
        return None

    def _gate(self, incident: Incident, scope: str, step: StepBase) -> str:
        """Refuses a step whose preconditions do not hold; returns the count to show in its confirmation."""
        switch = self.runbook.switches.get(step.not_while) if step.not_while else None
        found = in_effect(self.approvals.all_of_incident(incident.number), switch.key) if switch else None
        counter = self.step(incident.number, scope, step.counted_by) if step.counted_by else None
        preconditions = Preconditions(
            incident.reference,
            incident.drill,
            held_by=(switch.title, tuple(found.target.values())) if switch and found else None,
            counter=counter,
            counted=self.steps.result(incident.number, state_key(scope, counter.id)) if counter else None,
        )
        refusal = preconditions.refusal(step)
        if refusal:
            raise UserError(refusal)
        return preconditions.note()

    def _window_end(self, number: int, scope: str, step: StepBase) -> datetime:
        """Where a step's window ends: for a step that touches what another counted, the count's own window (the
        confirmation's number is what it touches); otherwise now."""
        counted = self.steps.result(number, state_key(scope, step.counted_by)) if step.counted_by else None
        return counted.at if counted is not None else self.clock.now()

    def start_run(
        self, number: int, scope: str, step_id: str, actor: str, parameters: dict[str, object]
    ) -> RunStarted | AlreadySettled:
        """Marks the step running and starts its work (a dry run in a drill when the work would change the org)."""
        incident = self.open_incident(number)
        step = self.step(number, scope, step_id)
        kind = kind_of(step)
        if kind.approval(step, self.values(step)) is not None or kind.run_label is None:
            raise UserError(kind.unavailable(step))
        self.access.require(incident, actor, Privilege.RUN_CHANGE if step.risk is Risk.CHANGE else Privilege.ACT)
        self._gate(incident, scope, step)
        self.steps.remember_parameters(number, {name: str(value) for name, value in parameters.items()})
        values = self.values(step, parameters, self._window_end(number, scope, step))
        started = self.transition(
            number, scope, step, after(StepAction.START, actor, self.clock.now()), run_allowed_from(step)
        )
        if isinstance(started, AlreadySettled):
            return started
        return RunStarted(started, values, actor, self._fetch(incident, step, values))

    def _fetch(self, incident: Incident, step: StepBase, values: dict[str, object]) -> Future[StepResult]:
        """The step's work, started on the fetch threads: the step shows "running" before it returns."""
        kind = kind_of(step)
        if incident.drill and not kind.drill_safe:
            return self.fetches.submit(kind.dry_run, step, values, self.clock.now())
        return self.fetches.submit(kind.run, step, values, self._context())

    def _context(self) -> RunContext:
        return RunContext(
            org=self.org, status_pages=self.status_pages, now=self.clock.now(), step_settings=self.step_settings
        )

    def finish_run(self, started: RunStarted) -> RunFinished:
        change = started.change
        return self._settle(
            change.incident, change.scope, change.step, started.actor, started.fetched, StepAction.SUCCEED
        )

    def start_declare_runs(self, incident: Incident) -> list[EarlyRun]:
        """Starts the fetches of the steps that run on declare, before the channel exists (they are independent)."""
        early = []
        capabilities = self.capabilities(incident)
        for step in self.runbook.first_five.all_steps():
            wanted = step.run_on_declare == "always" or (step.run_on_declare == "llm_related" and incident.llm_related)
            kind = kind_of(step)
            if wanted and kind.display(step, capabilities, self.values(step)).run_label and kind.drill_safe:
                values = self.values(step)
                future = self.fetches.submit(kind.run, step, values, self._context())
                early.append(EarlyRun(FIRST_FIVE, step, values, future))
        return early

    def finish_declare_run(self, incident: Incident, run: EarlyRun) -> RunFinished:
        """What an early fetch found, settling its step as the bot's own work."""
        return self._settle(incident, run.scope, run.step, None, run.fetched, StepAction.DONE)

    def _settle(
        self,
        incident: Incident,
        scope: str,
        step: StepBase,
        actor: str | None,
        fetched: Future[StepResult],
        settle: StepAction,
    ) -> RunFinished:
        """Keeps the result and settles the step: done with its summary, or failed with a sentence."""
        kind = kind_of(step)
        try:
            result = fetched.result()
        except StepNoAnswer as unknown:
            state = after(StepAction.NO_ANSWER, actor, self.clock.now(), error=str(unknown))
            return RunFinished(
                self.transition(incident.number, scope, step, state, allowed_from(StepAction.NO_ANSWER)), None
            )
        except StepFailed as failure:
            failed = after(StepAction.FAIL, actor, self.clock.now(), error=str(failure))
            return RunFinished(
                self.transition(incident.number, scope, step, failed, allowed_from(StepAction.FAIL)), None
            )
        except Exception:
            logger.exception("step %s/%s failed unexpectedly", scope, step.id)
            error = "the bot hit an unexpected error; see its logs"
            failed = after(StepAction.FAIL, actor, self.clock.now(), error=error)
            return RunFinished(
                self.transition(incident.number, scope, step, failed, allowed_from(StepAction.FAIL)), None
            )
        self.steps.save_result(incident.number, state_key(scope, step.id), result)
        if not result.dry_run and (found := kind.remembers(step, result, self.steps.parameters(incident.number))):
            self.steps.remember_parameters(incident.number, found)
        done = after(settle, actor, self.clock.now(), result=kind.summary(step, result))
        change = self.transition(incident.number, scope, step, done, allowed_from(settle))
        shown = kind.present(incident.reference, step, result) if not result.dry_run else None
        return RunFinished(change, shown)

    # ----- what the walkthrough's messages show

    def view(self, number: int) -> WalkthroughView | None:
        """The incident's walkthrough as it stands, read together (None once the incident is gone)."""
        incident, snapshot = self.steps.read(number)
        if incident is None:
            return None
        return WalkthroughView(incident, snapshot, self.runbook, self.capabilities(incident), self.values)

    def chart(self, number: int, scope: str, step_id: str) -> tuple[Incident, Chart] | None:
        """A result's chart with the severity matrix's line drawn on it, for the worker to draw (None when the
        step's kind draws none, or the result or the incident is gone)."""
        incident = self.incidents.get(number)
        step = self.runbook.step(scope, step_id)
        result = self.steps.result(number, state_key(scope, step_id))
        chart = kind_of(step).chart(incident.reference, step, result) if incident and step and result else None
        if incident is None or chart is None:
            return None
        line = self.runbook.severities.line()
        if line is not None:
            severity, percent = line
            chart = replace(chart, threshold_percent=percent, threshold_label=f"{severity.label}: {percent:g}%")
        return incident, chart


def describe(step: StepBase, state: StepState) -> str:
    """One timeline line for a step change."""
    if state.choice:
        label = next((b.label for b in step.branches() if b.id == state.choice), state.choice)
        return f"“{step.title}”: chose {label}"
    text = {
        StepStatus.DONE: f"“{step.title}” {state.reason or 'done'}",
        StepStatus.SKIPPED: f"“{step.title}” skipped: {state.reason}",
        StepStatus.NOT_APPLICABLE: f"“{step.title}” marked not applicable",
        StepStatus.RUNNING: f"“{step.title}” started",
        StepStatus.FAILED: f"“{step.title}” failed: {state.error}",
        StepStatus.UNKNOWN: f"“{step.title}”: outcome unknown: {state.error}",
        StepStatus.PENDING: f"“{step.title}” checked by hand, it did not run: {state.reason}"
        if state.reason
        else f"“{step.title}” reset",
    }[state.status]
    return f"{text} ({state.result})" if state.result else text


def phase_name(key: str, phase: PhaseName) -> str:
    """The name of a playbook phase's message."""
    return f"{key}/{phase.value}"
