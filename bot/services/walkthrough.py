"""Walking responders through the first five minutes and the playbooks, one step at a time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.adapters.redis_store import POSTING, IncidentStore, Snapshot, WalkthroughStore
from bot.adapters.slack_api import SlackApi, SlackCallFailed, respond
from bot.adapters.soql import build_soql, manual_switch_instructions
from bot.core.clock import Clock
from bot.core.incident import Incident
from bot.core.playbook import (
    FIRST_FIVE,
    PhaseName,
    Playbook,
    Risk,
    Step,
    StepKind,
    render_apex,
    window_values,
)
from bot.core.runbook import Runbook
from bot.core.timeline import EntryKind, TimelineEntry
from bot.core.walkthrough import (
    StepAction,
    StepState,
    StepStatus,
    after,
    allowed_from,
    complete,
    state_key,
)
from bot.render.blocks import Blocks
from bot.render.modals import run_modal
from bot.render.mrkdwn import user
from bot.render.steps import (
    StepPresentation,
    checklist_message,
    phase_message,
    picker_message,
    security_suggestion,
)
from bot.services.errors import StepFailed, UserError
from bot.services.timeline import TimelineService

logger = logging.getLogger(__name__)

PICKER = "picker"
PANEL_LABEL = "Open kill-switch panel"
REFRESH_ROUNDS = 5
FETCH_THREADS = 8

RUN_LABELS = {
    StepKind.QUERY: "Run query",
    StepKind.APEX: "Run Apex",
    StepKind.PUBLISH: "Publish",
    StepKind.KILL_SWITCH: "Request approval",
    StepKind.VENDOR_STATUS: "Check status pages",
}
UNAVAILABLE = {
    StepKind.QUERY: "Salesforce is not connected: run this by hand (`sf data query`), then mark it done.",
    StepKind.APEX: "Salesforce is not connected: run this by hand (`sf apex run`), then mark it done.",
    StepKind.PUBLISH: "Salesforce is not connected: publish it by hand (`sf apex run`), then mark it done.",
    StepKind.KILL_SWITCH: "Salesforce is not connected, so the bot cannot run kill switches: change it by hand "
    "with a second person checking, then mark it done.",
    StepKind.VENDOR_STATUS: "Check the status pages by hand, then mark it done.",
}
NEEDS_APPROVAL = (
    "Salesforce is not connected, so the bot cannot run this destructive step behind two-person approval: do it "
    "by hand with a second person checking, then mark it done."
)


class StepRunner(Protocol):
    """Does a step's work for the responder: fetch (the external call), then publish (in the channel).

    `publish` returns the one-line summary shown on the step; either may raise StepFailed.
    """

    kinds: frozenset[StepKind]

    def fetch(self, incident: Incident, step: Step, values: dict[str, object]) -> Any: ...

    def publish(self, incident: Incident, scope: str, step: Step, fetched: Any) -> str: ...


class ApprovalGate(Protocol):
    """Two-person approval, for kill switches and destructive steps (the kill-switch service)."""

    def available(self, incident: Incident) -> bool: ...

    def show_panel(self, incident: Incident, reply: Callable[[str, Blocks], None]) -> None: ...

    def open_request(
        self,
        incident: Incident,
        scope: str | None,
        step: Step | None,
        switch_key: str | None,
        trigger_id: str,
        reply_to: str,
    ) -> None: ...


@dataclass(frozen=True)
class EarlyRun:
    """A step run on declare whose fetch started before the channel existed."""

    scope: str
    step: Step
    fetched: Future[Any]


@dataclass(frozen=True)
class Outcome:
    """What to tell the person who acted, if anything (an ephemeral answer)."""

    message: str | None = None


class WalkthroughService:
    def __init__(
        self,
        incidents: IncidentStore,
        steps: WalkthroughStore,
        timeline: TimelineService,
        slack: SlackApi,
        runbook: Runbook,
        clock: Clock,
        timezone: ZoneInfo,
        link_urls: dict[str, str | None],
        fm_config_record: str,
        runners: list[StepRunner],
    ) -> None:
        self.incidents = incidents
        self.steps = steps
        self.timeline = timeline
        self.slack = slack
        self.runbook = runbook
        self.clock = clock
        self.timezone = timezone
        self.link_urls = link_urls
        self.fm_config_record = fm_config_record
        self.runners = {kind: runner for runner in runners for kind in runner.kinds}
        self.gate: ApprovalGate | None = None
        self.fetches = ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="fetch")

    # ----- posting

    def post_checklist(self, incident: Incident) -> None:
        """The first-five-minutes checklist, right after the header; once."""
        self._post(incident, FIRST_FIVE)

    def post_picker(self, incident: Incident) -> None:
        self._post(incident, PICKER)

    def start_playbook(self, number: int, key: str, actor: str) -> Outcome:
        incident = self.open_incident(number)
        playbook = self.runbook.playbook(key)
        if playbook is None:
            known = ", ".join(f"`{p.key}` ({p.number})" for p in self.runbook.playbooks)
            raise UserError(f"There is no playbook `{key}`. Pick one of {known}.")
        if not self.steps.start_playbook(number, playbook.key):
            return Outcome(f"Playbook {playbook.number}. {playbook.title} is already running in this incident.")
        self.timeline.record(number, EntryKind.PLAYBOOK, f"Playbook {playbook.number}. {playbook.title} started", actor)
        self._post(incident, phase_name(playbook.key, playbook.phases[0].name))
        self.refresh(incident, PICKER)
        suggestion = security_suggestion(incident) if "exfiltration_suspected" in playbook.suggested_when else None
        if suggestion is not None and incident.channel_id:
            self.slack.post(incident.channel_id, *suggestion)
        return Outcome()

    def post_phase(self, number: int, key: str, phase: str, actor: str) -> Outcome:
        incident = self.open_incident(number)
        playbook = self._started_playbook(number, key)
        names = {p.name.value: p.name for p in playbook.phases}
        if phase not in names:
            raise UserError(f"Playbook {playbook.number} has no phase `{phase}`.")
        if not self._post(incident, phase_name(key, names[phase])):
            return Outcome("That phase is already posted below.")
        self.refresh(incident, self._previous_phase(playbook, names[phase]))
        return Outcome()

    def _post(self, incident: Incident, name: str) -> bool:
        if not self.steps.claim_message(incident.number, name):
            return False
        snapshot = self.steps.snapshot(incident.number)
        text, blocks = self._render(incident, name, snapshot)
        assert incident.channel_id is not None
        self.steps.set_message(incident.number, name, self.slack.post(incident.channel_id, text, blocks))
        if self.steps.version(incident.number) != snapshot.version:
            self.refresh(incident, name)  # a step changed while it was being posted
        return True

    # ----- acting on steps

    def act(
        self,
        number: int,
        scope: str,
        step_id: str,
        action: StepAction,
        actor: str,
        *,
        reason: str = "",
        choice: str | None = None,
        channel: str | None = None,
    ) -> Outcome:
        """Applies a responder's action to a step, once: a repeat or a lost race is told who did what, when.

        With `channel`, the click must come from the incident's own channel.
        """
        step = self.runbook_step(scope, step_id)
        if action is StepAction.CHOOSE and choice not in {c.id for c in step.choices}:
            raise UserError(f"`{choice}` is not a choice of “{step.title}”.")
        new = after(action, actor, self.clock.now(), reason=reason, choice=choice)
        return self.transition(number, scope, step, new, allowed_from(action), channel=channel)

    def transition(
        self,
        number: int,
        scope: str,
        step: Step,
        new: StepState,
        allowed: frozenset[StepStatus],
        channel: str | None = None,
    ) -> Outcome:
        """Moves a step in one Redis round trip, then shows it: the timeline entry goes with the change."""
        kind = EntryKind.QUERY if step.kind is StepKind.QUERY and new.result else EntryKind.STEP
        entry = TimelineEntry(at=new.at or self.clock.now(), kind=kind, text=describe(step, new), actor=new.by)
        applied = self.steps.apply(number, scope, state_key(scope, step.id), new, allowed, entry, channel)
        if applied.outcome == "missing":
            raise UserError(f"There is no incident {number}.")
        if applied.outcome == "closed":
            assert applied.incident is not None
            raise closed(applied.incident)
        if applied.outcome == "elsewhere":
            assert applied.incident is not None
            raise elsewhere(applied.incident)
        if applied.outcome == "not_started":
            raise UserError(f"Playbook `{scope}` is not running in this incident; start it with `/incident playbook`.")
        if applied.outcome == "unchanged":
            return Outcome(self._already(step, applied.current))
        assert applied.incident is not None
        self.refresh_step(applied.incident, scope, step.id, applied.snapshot)
        return Outcome()

    def runbook_step(self, scope: str, step_id: str) -> Step:
        step = self.runbook.step(scope, step_id)
        if step is None:
            raise UserError(
                "That step is no longer in the runbook (the playbooks changed); re-post it with `/incident playbook`."
            )
        return step

    def step(self, number: int, scope: str, step_id: str) -> Step:
        """A step of a playbook running in the incident (or of the first five minutes)."""
        if scope != FIRST_FIVE:
            self._started_playbook(number, scope)
        return self.runbook_step(scope, step_id)

    def state(self, number: int, scope: str, step_id: str) -> StepState:
        return self.steps.snapshot(number).state(state_key(scope, step_id))

    def _already(self, step: Step, current: StepState) -> str:
        when = current.at.astimezone(self.timezone).strftime("%H:%M") if current.at else "?"
        who = user(current.by) if current.by else "the bot"
        verb = {
            StepStatus.DONE: "done",
            StepStatus.SKIPPED: "skipped",
            StepStatus.NOT_APPLICABLE: "marked N/A",
            StepStatus.RUNNING: "started",
            StepStatus.FAILED: "failed",
            StepStatus.PENDING: "reset",
        }[current.status]
        return f"“{step.title}” was already {verb} by {who} at {when}."

    def _started_playbook(self, number: int, key: str) -> Playbook:
        playbook = self.runbook.playbook(key)
        if playbook is None or playbook.key not in self.steps.snapshot(number).playbooks:
            raise UserError(f"Playbook `{key}` is not running in this incident; start it with `/incident playbook`.")
        return playbook

    def open_incident(self, number: int) -> Incident:
        incident = self.incidents.get(number)
        if incident is None:
            raise UserError(f"There is no incident {number}.")
        if not incident.is_open:
            raise closed(incident)
        return incident

    # ----- running steps

    def request_run(self, number: int, scope: str, step_id: str, actor: str, trigger_id: str, reply_to: str) -> Outcome:
        """The Run button: read steps run at once; parameters or a change ask first, in a modal."""
        incident = self.open_incident(number)
        step = self.step(number, scope, step_id)
        if gated(step):
            if self.gate is None or not self.gate.available(incident):
                raise UserError(self.unavailable(step))
            if step.kind is StepKind.KILL_SWITCH and not step.switch:
                self.gate.show_panel(incident, lambda text, blocks: respond(reply_to, text, blocks))
            else:
                self.gate.open_request(incident, scope, step, step.switch, trigger_id, reply_to)
            return Outcome()
        if self.runner(step) is None:
            raise UserError(self.unavailable(step))
        if step.parameters or step.risk is Risk.CHANGE:
            preview = self.manual(step) if step.risk is Risk.CHANGE else None
            remembered = self.steps.parameters(number)
            metadata = {"incident": number, "scope": scope, "step": step_id, "response_url": reply_to}
            self.slack.open_view(trigger_id, run_modal(step, preview, remembered, metadata))
            return Outcome()
        return self.run(number, scope, step_id, actor, {})

    def run(self, number: int, scope: str, step_id: str, actor: str, parameters: dict[str, object]) -> Outcome:
        incident = self.open_incident(number)
        step = self.step(number, scope, step_id)
        runner = self.runner(step)
        if runner is None:
            raise UserError(self.unavailable(step))
        self.steps.remember_parameters(number, {name: str(value) for name, value in parameters.items()})
        values = {**window_values(step, self.clock.now()), **parameters}
        started = self.transition(
            incident.number,
            scope,
            step,
            after(StepAction.START, actor, self.clock.now()),
            allowed_from(StepAction.START),
        )
        if started.message:
            return started
        future: Future[Any] = Future()
        try:
            future.set_result(runner.fetch(incident, step, values))
        except Exception as error:
            future.set_exception(error)
        self._finish(incident, scope, step, actor, runner, future)
        return Outcome()

    def _finish(
        self,
        incident: Incident,
        scope: str,
        step: Step,
        actor: str | None,
        runner: StepRunner,
        fetched: Future[Any],
        settle: StepAction = StepAction.SUCCEED,
    ) -> None:
        """Publishes what was fetched and settles the step: done with its summary, or failed with a sentence."""
        try:
            summary = runner.publish(incident, scope, step, fetched.result())
        except (StepFailed, SlackCallFailed) as failure:
            error = str(failure)
        except Exception:
            logger.exception("step %s/%s failed unexpectedly", scope, step.id)
            error = "the bot hit an unexpected error; see its logs"
        else:
            done = after(settle, actor, self.clock.now(), result=summary)
            self.transition(incident.number, scope, step, done, allowed_from(settle))
            return
        failed = after(StepAction.FAIL, actor, self.clock.now(), error=error)
        self.transition(incident.number, scope, step, failed, allowed_from(StepAction.FAIL))

    def start_declare_runs(self, incident: Incident) -> list[EarlyRun]:
        """Starts the fetches of the steps that run on declare, before the channel exists (they are independent)."""
        early = []
        for step in self.runbook.first_five.all_steps():
            wanted = step.run_on_declare == "always" or (step.run_on_declare == "llm_related" and incident.llm_related)
            runner = self.runner(step)
            if wanted and runner is not None:
                values: dict[str, object] = {**window_values(step, self.clock.now())}
                early.append(EarlyRun(FIRST_FIVE, step, self.fetches.submit(runner.fetch, incident, step, values)))
        return early

    def finish_declare_run(self, incident: Incident, run: EarlyRun) -> None:
        """Posts what an early fetch found and marks its step done (or failed) as the bot's own work."""
        runner = self.runner(run.step)
        assert runner is not None
        self._finish(incident, run.scope, run.step, None, runner, run.fetched, settle=StepAction.DONE)

    # ----- keeping messages current

    def refresh_step(self, incident: Incident, scope: str, step_id: str, snapshot: Snapshot) -> None:
        """Shows a step's change; a playbook phase it completes brings the next phase."""
        if scope == FIRST_FIVE:
            self.refresh(incident, FIRST_FIVE, snapshot)
            return
        playbook = self.runbook.playbook(scope)
        assert playbook is not None
        phase = next(p for p in playbook.phases if any(s.id == step_id for top in p.steps for s in top.walk()))
        name = phase_name(scope, phase.name)
        self.refresh(incident, name, snapshot)
        following = playbook.next_phase(phase.name)
        if following is None or not complete(phase.steps, scope, snapshot.states):
            return
        if self._post(incident, phase_name(scope, following.name)):
            self.refresh(incident, name)

    def refresh(self, incident: Incident, name: str, snapshot: Snapshot | None = None) -> None:
        """Re-renders one message in place until what it shows is the latest state (chat.update, never re-post)."""
        assert incident.channel_id is not None
        for _ in range(REFRESH_ROUNDS):
            snapshot = snapshot or self.steps.snapshot(incident.number)
            ts = snapshot.messages.get(name)
            if not ts or ts == POSTING:
                return
            text, blocks = self._render(incident, name, snapshot)
            self.slack.update(incident.channel_id, ts, text, blocks)
            if self.steps.version(incident.number) == snapshot.version:
                return
            snapshot = None

    def _render(self, incident: Incident, name: str, snapshot: Snapshot) -> tuple[str, Blocks]:
        def present(step: Step) -> StepPresentation:
            return self.presentation(incident, step)

        if name == FIRST_FIVE:
            return checklist_message(incident, self.runbook.first_five, snapshot.states, present, self.timezone)
        if name == PICKER:
            suggested = self.runbook.suggestions(incident)
            return picker_message(incident, self.runbook.playbooks, suggested, snapshot.playbooks)
        key, _, phase = name.partition("/")
        playbook = self.runbook.playbook(key)
        assert playbook is not None
        current = playbook.phase(PhaseName(phase))
        following = playbook.next_phase(current.name)
        next_posted = following is not None and phase_name(key, following.name) in snapshot.messages
        return phase_message(incident, playbook, current, snapshot.states, present, self.timezone, next_posted)

    def _previous_phase(self, playbook: Playbook, name: PhaseName) -> str:
        names = [p.name for p in playbook.phases]
        index = names.index(name)
        return phase_name(playbook.key, names[max(0, index - 1)])

    def presentation(self, incident: Incident, step: Step) -> StepPresentation:
        if step.kind is StepKind.LINK:
            assert step.url_setting is not None
            url = self.link_urls.get(step.url_setting)
            missing = None if url else f"Set {step.url_setting.upper()} to link it here."
            return StepPresentation(url=url, missing=missing)
        if step.kind in (StepKind.CHECK, StepKind.DECISION):
            return StepPresentation()
        if gated(step) and self.gate is not None and self.gate.available(incident):
            return StepPresentation(
                run_label=PANEL_LABEL
                if step.kind is StepKind.KILL_SWITCH and not step.switch
                else RUN_LABELS[StepKind.KILL_SWITCH]
            )
        if self.runner(step) is not None:
            return StepPresentation(run_label=RUN_LABELS[step.kind])
        return StepPresentation(manual=self.manual(step), missing=self.unavailable(step))

    def unavailable(self, step: Step) -> str:
        """Why the bot cannot run this step, and what to do instead."""
        if step.risk is Risk.DESTRUCTIVE and step.kind is not StepKind.KILL_SWITCH:
            return NEEDS_APPROVAL
        return UNAVAILABLE.get(step.kind, "The bot cannot run this step.")

    def runner(self, step: Step) -> StepRunner | None:
        """The runner that does this step's work; destructive work only ever runs behind approval."""
        if step.risk is Risk.DESTRUCTIVE:
            return None
        return self.runners.get(step.kind)

    def manual(self, step: Step) -> str | None:
        """What to run by hand: the exact SOQL, Apex or event, with this incident's time window."""
        values: dict[str, object] = {
            **window_values(step, self.clock.now()),
            **{p.name: p.default if p.default is not None else f"<{p.label}>" for p in step.parameters},
        }
        if step.kind is StepKind.QUERY:
            flag = " --use-tooling-api" if step.api == "tooling" else ""
            return f'sf data query{flag} --query "{build_soql(step, values)}"'
        if step.kind is StepKind.APEX:
            return render_apex(step, values)
        if step.kind is StepKind.PUBLISH:
            assert step.fields is not None
            assignments = ",\n  ".join(f"{name} = '{value}'" for name, value in step.fields.items())
            event = f"EventBus.publish(new {step.sobject}(\n  {assignments}\n));"
            return event.replace("'$running_user_id'", "UserInfo.getUserId()")
        if step.kind is StepKind.KILL_SWITCH:
            switches = [self.runbook.switches.get(step.switch)] if step.switch else self.runbook.switches.switches
            lines = []
            for index, switch in enumerate((s for s in switches if s), 1):
                how = manual_switch_instructions(switch, self.fm_config_record)
                lines.append(f"{index}. {switch.title} ({switch.effect}):\n   {how}")
            return "\n".join(lines)
        return None


def closed(incident: Incident) -> UserError:
    return UserError(f"{incident.reference} is {incident.status.value}; its steps can no longer change.")


def elsewhere(incident: Incident) -> UserError:
    return UserError(f"That button belongs to {incident.reference}'s channel.")


def gated(step: Step) -> bool:
    """Work that runs only behind two-person approval: kill switches and destructive steps."""
    return step.kind is StepKind.KILL_SWITCH or step.risk is Risk.DESTRUCTIVE


def phase_name(key: str, phase: PhaseName) -> str:
    return f"{key}/{phase.value}"


def describe(step: Step, state: StepState) -> str:
    """One timeline line for a step change."""
    if state.choice:
        label = next((c.label for c in step.choices if c.id == state.choice), state.choice)
        return f"“{step.title}”: chose {label}"
    text = {
        StepStatus.DONE: f"“{step.title}” done",
        StepStatus.SKIPPED: f"“{step.title}” skipped: {state.reason}",
        StepStatus.NOT_APPLICABLE: f"“{step.title}” marked not applicable",
        StepStatus.RUNNING: f"“{step.title}” started",
        StepStatus.FAILED: f"“{step.title}” failed: {state.error}",
        StepStatus.PENDING: f"“{step.title}” reset",
    }[state.status]
    return f"{text} ({state.result})" if state.result else text
