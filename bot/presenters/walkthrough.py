"""The walkthrough in Slack: the checklist, the picker and the playbook phases, posted once and then updated in
place (never re-posted) until each shows the latest state; a run's result with its CSV and chart; the forms."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.adapters.redis_store.messages import POSTING, MessageStore
from bot.adapters.redis_store.updates import CoalescedUpdates
from bot.adapters.scheduler import Scheduler
from bot.adapters.slack_api import SlackApi
from bot.core.incident import Incident
from bot.core.playbook import FIRST_FIVE, PhaseName, StepBase
from bot.jobs import JobName
from bot.kinds.base import Shown
from bot.presenters.reply import Reply
from bot.render.blocks import Blocks
from bot.render.modals import reason_modal, run_modal
from bot.render.mrkdwn import user
from bot.render.results import result_message
from bot.render.steps import checklist_message, phase_message, picker_message, security_suggestion
from bot.services.evidence import EvidenceService
from bot.services.walkthrough import WalkthroughService, phase_name
from bot.services.walkthrough_outcomes import (
    AlreadySettled,
    AskParameters,
    PhaseDue,
    PlaybookStarted,
    RunFinished,
    StepChanged,
    Told,
    WalkthroughView,
)

PICKER = "picker"


@dataclass(frozen=True)
class Edit:
    """A message as it should show now."""

    channel: str
    ts: str
    text: str
    blocks: Blocks


class WalkthroughPresenter:
    def __init__(
        self,
        slack: SlackApi,
        messages: MessageStore,
        walkthrough: WalkthroughService,
        scheduler: Scheduler,
        updates: CoalescedUpdates,
        timezone: ZoneInfo,
        evidence: EvidenceService,
    ) -> None:
        self.slack = slack
        self.updates = updates
        self.messages = messages
        self.walkthrough = walkthrough
        self.scheduler = scheduler
        self.timezone = timezone
        self.evidence = evidence

    # ----- posting

    def post_checklist(self, incident: Incident) -> None:
        """The first-five-minutes checklist, right after the header; once."""
        self._post(incident, FIRST_FIVE)

    def post_picker(self, incident: Incident) -> None:
        self._post(incident, PICKER)

    def post_phase(self, due: PhaseDue, reply: Reply) -> None:
        if not self._post(due.incident, phase_name(due.key, due.phase)):
            reply("That phase is already posted below.")
            return
        self.refresh(due.incident, phase_name(due.key, due.previous))  # its Next button goes

    def _post(self, incident: Incident, name: str) -> bool:
        if not self.messages.claim(incident.number, name):
            return False
        view = self.walkthrough.view(incident.number)
        if view is None:
            return False
        assert incident.channel_id is not None
        self.messages.set(incident.number, name, self.slack.post(incident.channel_id, *self._render(view, name)))
        if name != PICKER and self.walkthrough.version(incident.number) != view.snapshot.version:
            self.refresh(incident, name)  # a step changed while it was being posted (the picker shows none)
        return True

    # ----- showing what happened

    def started(self, outcome: PlaybookStarted | Told, reply: Reply) -> None:
        if isinstance(outcome, Told):
            reply(outcome.message)
            return
        incident, playbook = outcome.incident, outcome.playbook
        self._post(incident, phase_name(playbook.key, playbook.phases[0].name))
        self.refresh(incident, PICKER)
        suggestion = security_suggestion(incident, outcome.raise_to_sev1, outcome.suggest_private)
        if suggestion is not None and incident.channel_id:
            self.slack.post(incident.channel_id, *suggestion)

    def show(self, outcome: StepChanged | AlreadySettled, reply: Reply) -> None:
        """A step's change, in its message; a phase it settled brings the next phase."""
        if isinstance(outcome, AlreadySettled):
            reply(self.already(outcome))
            return
        name = FIRST_FIVE if outcome.phase is None else phase_name(outcome.scope, outcome.phase)
        self.refresh(outcome.incident, name)
        if outcome.following is not None and self._post(outcome.incident, phase_name(outcome.scope, outcome.following)):
            self.refresh(outcome.incident, name)

    def already(self, outcome: AlreadySettled) -> str:
        current = outcome.current
        when = current.at.astimezone(self.timezone).strftime("%H:%M") if current.at else "?"
        who = user(current.by) if current.by else "the bot"
        verb = {
            "done": "done",
            "skipped": "skipped",
            "n/a": "marked N/A",
            "running": "started",
            "failed": "failed",
            "unknown": "sent without an answer",
            "pending": "checked",
        }[current.status.value]
        return f"“{outcome.step.title}” was already {verb} by {who} at {when}."

    def finished(self, outcome: RunFinished, reply: Reply) -> None:
        """A run's result in the channel (with its files and chart), then its step settled."""
        change = outcome.change
        if isinstance(change, StepChanged) and outcome.shown is not None:
            self._publish(change.incident, change.scope, change.step, outcome.shown)
        self.show(change, reply)

    def _publish(self, incident: Incident, scope: str, step: StepBase, shown: Shown) -> None:
        assert incident.channel_id is not None
        channel = incident.channel_id
        ts = self.slack.post(channel, *result_message(shown.view))
        for upload in shown.uploads:
            self.slack.upload(channel, upload.filename, upload.content, upload.title, thread_ts=ts)
        if shown.chart:
            self.scheduler.enqueue(
                JobName.DRAW_CHART,
                incident.number,
                scope,
                step.id,
                ts,
                job_id=self.scheduler.job_id("chart", incident.number, scope, step.id, ts),
            )

    def chart(self, number: int, scope: str, step_id: str, thread_ts: str) -> None:
        """The worker's job: the error-rate trend as a PNG, under the numbers (matplotlib never loads on the web)."""
        from bot.adapters.charts import error_rate_png

        found = self.walkthrough.chart(number, scope, step_id)
        channel = found[0].channel_id if found else None
        if found is None or channel is None:
            return
        chart = found[1]
        self.slack.upload(channel, chart.filename, error_rate_png(chart), chart.title, thread_ts=thread_ts)

    # ----- forms

    def ask_parameters(self, ask: AskParameters, trigger_id: str, response_url: str) -> None:
        metadata = {
            "incident": ask.incident.number,
            "scope": ask.scope,
            "step": ask.step.id,
            "response_url": response_url,
        }
        self.slack.open_view(trigger_id, run_modal(ask.step, ask.preview, ask.remembered, metadata))

    def ask_reason(
        self, callback: str, number: int, scope: str, step: StepBase, trigger_id: str, response_url: str
    ) -> None:
        """The form that asks why: to skip a step, to mark a destructive one done by hand, to run again a change
        that got no answer (`callback` says which)."""
        metadata = {"incident": number, "scope": scope, "step": step.id, "response_url": response_url}
        self.slack.open_view(trigger_id, reason_modal(callback, step.title, metadata))

    # ----- keeping messages current

    def refresh(self, incident: Incident, name: str) -> None:
        """Asks for one message to show the latest state: changes close together are sent as one chat.update
        (never a re-post), at most about once a second, rendered from what Redis holds when it is sent."""
        self.updates.request(f"{incident.number}:{name}", lambda: self.latest(incident.number, name), self.edit)

    def latest(self, number: int, name: str) -> Edit | None:
        """What the message `name` should show now, from what Redis holds (None before it is posted)."""
        view = self.walkthrough.view(number)
        ts = view.snapshot.messages.get(name) if view else None
        if view is None or view.incident.channel_id is None or not ts or ts == POSTING:
            return None
        return Edit(view.incident.channel_id, ts, *self._render(view, name))

    def edit(self, edit: Edit) -> None:
        """Sends one coalesced update; a 429 comes back to the sender, which waits Retry-After."""
        self.slack.update(edit.channel, edit.ts, edit.text, edit.blocks, wait=False)

    def refresh_all(self, incident: Incident) -> None:
        """Every walkthrough message of the incident, from what Redis holds (after work done in the worker)."""
        for name in self.names(incident.number):
            self.refresh(incident, name)

    def names(self, number: int) -> list[str]:
        """The walkthrough messages posted in the incident: the checklist, the picker, the playbook phases."""
        posted = self.messages.all(number)
        return [name for name in posted if name in (FIRST_FIVE, PICKER) or "/" in name]

    def _render(self, view: WalkthroughView, name: str) -> tuple[str, Blocks]:
        incident, snapshot, runbook = view.incident, view.snapshot, view.runbook
        if name == FIRST_FIVE:
            return checklist_message(incident, runbook.first_five, snapshot.states, view.display, self.timezone)
        if name == PICKER:
            probed, ranking = self.evidence.ranking(incident.number)
            return picker_message(incident, ranking, runbook.suggestions(incident), snapshot.playbooks, probed)
        key, _, phase = name.partition("/")
        playbook = runbook.playbook(key)
        assert playbook is not None
        current = playbook.phase(PhaseName(phase))
        following = playbook.next_phase(current.name)
        next_posted = following is not None and phase_name(key, following.name) in snapshot.messages
        return phase_message(incident, playbook, current, snapshot.states, view.display, self.timezone, next_posted)
