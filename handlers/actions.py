"""Buttons and menus in incident channels: checklist and playbook steps, the playbook picker, phases."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.adapters.slack_api import respond
from bot.core.commands import OpenDeclareForm
from bot.core.severity import Severity
from bot.core.walkthrough import StepAction
from bot.render.modals import declare_modal, skip_modal
from bot.services.errors import UserError
from bot.services.walkthrough import Outcome, elsewhere
from handlers.replies import answering

if TYPE_CHECKING:
    from bot.app import Services

TARGET = re.compile(r"^(\d+):([a-z0-9-]+)(?::([a-z0-9-]+))?$")


STALE_BUTTON = "That button is not one of mine any more; use the latest message."


def parse_target(value: str) -> tuple[int, str, str]:
    """`<incident>:<scope>[:<step or phase>]` from a button's value; anything else is refused."""
    match = TARGET.fullmatch(value or "")
    if not match:
        raise UserError(STALE_BUTTON)
    return int(match.group(1)), match.group(2), match.group(3) or ""


def clicked_channel(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or "")


def severity_of(level: str) -> Severity:
    try:
        return Severity.parse(level)
    except ValueError:
        raise UserError(STALE_BUTTON) from None


def clicked_value(body: dict[str, Any]) -> str:
    action = body["actions"][0]
    return str((action.get("selected_option") or {}).get("value") or action.get("value") or "")


def register(app: App, services: Services) -> None:
    walkthrough = services.walkthrough

    def handle(
        body: dict[str, Any],
        use_case: Callable[[int, str, str, str], Outcome],
        value: str | None = None,
        channel_checked_by_use_case: bool = False,
    ) -> None:
        def notify(text: str) -> None:
            respond(body["response_url"], text)

        with answering(notify):
            number, scope, target = parse_target(value or clicked_value(body))
            if not channel_checked_by_use_case:
                incident = walkthrough.open_incident(number)
                if incident.channel_id != clicked_channel(body):
                    raise elsewhere(incident)
            outcome = use_case(number, scope, target, body["user"]["id"])
            if outcome.message:
                notify(outcome.message)

    def step_action(action: StepAction) -> Callable[..., None]:
        def listener(ack: Ack, body: dict[str, Any]) -> None:
            ack()
            handle(
                body,
                lambda n, scope, step, actor: walkthrough.act(
                    n, scope, step, action, actor, channel=clicked_channel(body)
                ),
                channel_checked_by_use_case=True,
            )

        return listener

    app.action("step.done")(step_action(StepAction.DONE))
    app.action("step.na")(step_action(StepAction.NOT_APPLICABLE))

    @app.action(re.compile(r"^step\.choose\.[a-z0-9-]+$"))
    def choose(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        choice = body["actions"][0]["action_id"].removeprefix("step.choose.")
        handle(
            body,
            lambda n, scope, step, actor: walkthrough.act(
                n, scope, step, StepAction.CHOOSE, actor, choice=choice, channel=clicked_channel(body)
            ),
            channel_checked_by_use_case=True,
        )

    @app.action("step.skip")
    def skip(ack: Ack, body: dict[str, Any]) -> None:
        ack()

        def open_reason_form(number: int, scope: str, step_id: str, actor: str) -> Outcome:
            step = walkthrough.step(number, scope, step_id)
            metadata = {"incident": number, "scope": scope, "step": step_id, "response_url": body["response_url"]}
            services.slack.open_view(body["trigger_id"], skip_modal(step.title, metadata))
            return Outcome()

        handle(body, open_reason_form)

    @app.action("step.run")
    def run(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        handle(
            body,
            lambda n, scope, step, actor: walkthrough.request_run(
                n, scope, step, actor, body["trigger_id"], body["response_url"]
            ),
        )

    @app.action("step.link")
    def link(ack: Ack) -> None:
        ack()  # a URL button: Slack opens the page; the click only needs acknowledging

    @app.action(re.compile(r"^playbook\.pick(\.[a-z0-9-]+)?$"))
    def pick(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        handle(body, lambda n, key, _, actor: walkthrough.start_playbook(n, key, actor))

    @app.action("incident.ack")
    def acknowledge(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        handle(
            body,
            lambda n, _scope, _target, actor: Outcome(services.response.acknowledge(n, actor)),
            value=f"{clicked_value(body)}:ack",
        )

    @app.action(re.compile(r"^incident\.severity$"))
    def severity(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        handle(
            body,
            lambda n, level, _target, actor: Outcome(services.response.change_severity(n, severity_of(level), actor)),
        )

    @app.action("incident.declare_private")
    def declare_private(ack: Ack, body: dict[str, Any]) -> None:
        ack()

        def open_form(number: int, _scope: str, _target: str, actor: str) -> Outcome:
            incident = walkthrough.open_incident(number)
            prefill = OpenDeclareForm(title=f"Investigation: {incident.title}"[:80], private=True)
            metadata = {"channel": body["channel"]["id"], "response_url": body["response_url"]}
            services.slack.open_view(
                body["trigger_id"], declare_modal(services.incidents.matrix, prefill, metadata, exfiltration=True)
            )
            return Outcome()

        handle(body, open_form, value=f"{clicked_value(body)}:private")

    @app.action("timeline.page")
    def timeline_page(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        with answering(lambda text: respond(body["response_url"], text)):
            number, page, _ = parse_target(clicked_value(body))
            if not re.fullmatch(r"page-[0-9]{1,4}", page):
                raise UserError(STALE_BUTTON)
            channel, ts = body["channel"]["id"], body["container"]["message_ts"]
            services.slack.update(channel, ts, *services.lifecycle.timeline_page(number, int(page[5:])))

    @app.action("phase.next")
    def next_phase(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        handle(body, lambda n, key, phase, actor: walkthrough.post_phase(n, key, phase, actor))
