"""Buttons and menus: one listener per action of the codec (`bot/render/actions.py`), each behind the one guard
(`handlers.guards.clicked`). A listener acks, calls one use case, and hands what happened to a presenter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, BoltContext

from bot.core.commands import OpenDeclareForm
from bot.core.playbook import Risk
from bot.core.severity import Severity
from bot.core.walkthrough import StepAction
from bot.presenters.reply import Ephemeral, Reply
from bot.render.actions import (
    ActionId,
    ChoiceRef,
    PageRef,
    PhaseRef,
    PlaybookRef,
    RequestRef,
    SeverityRef,
    StepRef,
    SuggestionRef,
    SwitchRef,
    action_pattern,
)
from bot.render.modals import CHECKED_CALLBACK, DONE_BY_HAND_CALLBACK, SKIP_CALLBACK, declare_modal
from bot.services.approvals import Refused
from bot.services.walkthrough_outcomes import AskApproval, AskParameters, PlaybookStarted, RunStarted, Told
from handlers.guards import Click, clicked
from handlers.replies import answering

if TYPE_CHECKING:
    from bot.app import Services

Listener = Callable[["Services", Click, Reply], None]


def step_action(action: StepAction) -> Listener:
    def listener(services: Services, click: Click, reply: Reply) -> None:
        value = click.value
        assert isinstance(value, StepRef)
        step = services.walkthrough.step(click.incident.number, value.scope, value.step)
        if action is StepAction.DONE and step.risk is Risk.DESTRUCTIVE:
            ask(DONE_BY_HAND_CALLBACK)(services, click, reply)
            return
        choice = value.choice if isinstance(value, ChoiceRef) else None
        outcome = services.walkthrough.act(click.incident, value.scope, value.step, action, click.actor, choice=choice)
        services.present.walkthrough.show(outcome, reply)

    return listener


def ask(callback: str) -> Listener:
    """A click that opens the form asking why (skip, done by hand, checked in the org)."""

    def listener(services: Services, click: Click, reply: Reply) -> None:
        value = click.value
        assert isinstance(value, StepRef)
        step = services.walkthrough.step(click.incident.number, value.scope, value.step)
        services.present.walkthrough.ask_reason(
            callback, click.incident.number, value.scope, step, click.trigger_id, click.response_url
        )

    return listener


def run(services: Services, click: Click, reply: Reply) -> None:
    """Run: a read runs at once; parameters or a change ask first; destructive work asks for approval."""
    value = click.value
    assert isinstance(value, StepRef)
    number = click.incident.number
    ask = services.walkthrough.request_run(number, value.scope, value.step, click.actor)
    if isinstance(ask, AskApproval):
        if ask.need.switch is None and ask.need.mechanism is None:
            incident, lines = services.approvals.panel(number)
            services.present.approvals.panel(incident, lines, reply)
        else:
            form = services.approvals.form(number, ask.need.switch, value.scope, value.step)
            services.present.approvals.open_form(form, click.trigger_id, click.response_url)
    elif isinstance(ask, AskParameters):
        services.present.walkthrough.ask_parameters(ask, click.trigger_id, click.response_url)
    else:
        run_now(services, number, value.scope, value.step, click.actor, {}, reply)


def run_now(
    services: Services, number: int, scope: str, step_id: str, actor: str, parameters: dict[str, object], reply: Reply
) -> None:
    """Marks the step running (shown at once), then does its work and shows what it found."""
    started = services.walkthrough.start_run(number, scope, step_id, actor, parameters)
    walkthrough = services.present.walkthrough
    if not isinstance(started, RunStarted):
        walkthrough.show(started, reply)
        return
    walkthrough.show(started.change, reply)
    walkthrough.finished(services.walkthrough.finish_run(started), reply)


def pick(services: Services, click: Click, reply: Reply) -> None:
    value = click.value
    assert isinstance(value, PlaybookRef)
    show_started(
        services, services.walkthrough.start_playbook(click.incident.number, value.playbook, click.actor), reply
    )


def show_started(services: Services, outcome: PlaybookStarted | Told, reply: Reply) -> None:
    """A playbook started: its first phase, then the earlier incidents that ran it."""
    services.present.walkthrough.started(outcome, reply)
    if isinstance(outcome, PlaybookStarted):
        playbook = outcome.playbook
        matches = services.related.for_channel(outcome.incident, playbook.key)
        title = f"earlier incidents that ran {playbook.number}. {playbook.title}"
        services.present.related.in_channel(outcome.incident, matches, title)


def next_phase(services: Services, click: Click, reply: Reply) -> None:
    value = click.value
    assert isinstance(value, PhaseRef)
    due = services.walkthrough.next_phase(click.incident.number, value.playbook, value.phase, click.actor)
    services.present.walkthrough.post_phase(due, reply)


def acknowledge(services: Services, click: Click, reply: Reply) -> None:
    services.present.response.acknowledged(services.response.acknowledge(click.incident.number, click.actor), reply)


def severity(services: Services, click: Click, reply: Reply) -> None:
    value = click.value
    assert isinstance(value, SeverityRef)
    changed = services.response.change_severity(click.incident.number, Severity(value.severity), click.actor)
    services.present.response.severity_changed(changed, reply)


def answer_severity(services: Services, click: Click, reply: Reply) -> None:
    """The bot's severity suggestion answered: take the measured severity or keep the declared one, once, while
    the severity is still the one it was about."""
    value = click.value
    assert isinstance(value, SuggestionRef)
    answered = services.response.answer_suggestion(
        click.incident.number,
        click.message_ts,
        Severity(value.declared),
        Severity(value.suggested),
        value.keep,
        click.actor,
    )
    services.present.evidence.answered(
        answered, click.channel, click.message_ts, click.message_text, click.actor, reply
    )
    if answered.changed is not None:
        services.present.response.severity_changed(answered.changed, reply)


def declare_private(services: Services, click: Click, reply: Reply) -> None:
    incident = services.walkthrough.open_incident(click.incident.number)
    prefill = OpenDeclareForm(title=f"Investigation: {incident.title}"[:80], private=True)
    metadata = {"channel": click.channel, "response_url": click.response_url}
    services.slack.open_view(
        click.trigger_id, declare_modal(services.runbook.severities, prefill, metadata, exfiltration=True)
    )


def timeline_page(services: Services, click: Click, reply: Reply) -> None:
    value = click.value
    assert isinstance(value, PageRef)
    services.present.lifecycle.turn_timeline_page(click.incident.number, value.page, click.channel, click.message_ts)


def open_switch(services: Services, click: Click, reply: Reply) -> None:
    value = click.value
    assert isinstance(value, SwitchRef)
    form = services.approvals.form(click.incident.number, value.switch, None, None)
    services.present.approvals.open_form(form, click.trigger_id, click.response_url)


def decide(approve: bool) -> Listener:
    def listener(services: Services, click: Click, reply: Reply) -> None:
        value = click.value
        assert isinstance(value, RequestRef)
        decided = services.approvals.decide(value.request, click.actor, approve)
        if isinstance(decided, Refused):
            services.present.approvals.refused(decided, reply)
        else:
            services.present.approvals.refresh(value.request)

    return listener


def open_revert(services: Services, click: Click, reply: Reply) -> None:
    value = click.value
    assert isinstance(value, RequestRef)
    request, _, _ = services.approvals.revertible(value.request, click.actor)
    services.present.approvals.open_revert_form(request, click.trigger_id, click.response_url)


def link(services: Services, click: Click, reply: Reply) -> None:
    """A URL button: Slack opens the page; the click needs nothing more than its acknowledgement."""


def export_actions(services: Services, click: Click, reply: Reply) -> None:
    services.present.action_items.export_asked(services.tracking.export(click.incident.number, click.actor), reply)


LISTENERS: dict[ActionId, Listener] = {
    ActionId.STEP_DONE: step_action(StepAction.DONE),
    ActionId.STEP_NOT_APPLICABLE: step_action(StepAction.NOT_APPLICABLE),
    ActionId.STEP_CHOOSE: step_action(StepAction.CHOOSE),
    ActionId.STEP_SKIP: ask(SKIP_CALLBACK),
    ActionId.STEP_CHECKED: ask(CHECKED_CALLBACK),
    ActionId.STEP_RUN: run,
    ActionId.STEP_LINK: link,
    ActionId.PLAYBOOK_PICK: pick,
    ActionId.PHASE_NEXT: next_phase,
    ActionId.INCIDENT_ACK: acknowledge,
    ActionId.INCIDENT_SEVERITY: severity,
    ActionId.SEVERITY_ANSWER: answer_severity,
    ActionId.INCIDENT_DECLARE_PRIVATE: declare_private,
    ActionId.TIMELINE_PAGE: timeline_page,
    ActionId.SWITCH_OPEN: open_switch,
    ActionId.SWITCH_APPROVE: decide(True),
    ActionId.SWITCH_DENY: decide(False),
    ActionId.SWITCH_REVERT: open_revert,
    ActionId.ACTIONS_EXPORT: export_actions,
}


def register(app: App, services: Services) -> None:
    for action, listener in LISTENERS.items():
        app.action(action_pattern(action))(guarded(services, listener))


def guarded(services: Services, listener: Listener) -> Callable[..., None]:
    def bolt_listener(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        reply = Ephemeral(str(body.get("response_url") or ""))
        with answering(reply):
            listener(services, clicked(services, body, context), reply)

    return bolt_listener
