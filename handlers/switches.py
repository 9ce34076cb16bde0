"""Kill switches: the panel's buttons, Approve / Deny / Revert on request cards, and their forms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.adapters.slack_api import respond
from bot.core.approval import needs_provider, needs_user
from bot.core.salesforce_id import USER_PREFIX, parse_id
from bot.render.modals import read_metadata, submitted_values
from bot.render.switches import REASON_MAX, REQUEST_CALLBACK, REVERT_CALLBACK
from bot.services.errors import UserError
from handlers.actions import clicked_value, parse_target
from handlers.replies import answering, notifier

if TYPE_CHECKING:
    from bot.app import Services


def reason_error(reason: str) -> str | None:
    if not reason or len(reason) > REASON_MAX:
        return f"Say why, in at most {REASON_MAX} characters."
    return None


def register(app: App, services: Services) -> None:
    killswitches = services.killswitches

    @app.action("switch.open")
    def open_request(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        with answering(lambda text: respond(body["response_url"], text)):
            number, key, _ = parse_target(clicked_value(body))
            incident = services.walkthrough.open_incident(number)
            killswitches.open_request(incident, None, None, key, body["trigger_id"], body["response_url"])

    def decide(approve: bool) -> Any:
        def listener(ack: Ack, body: dict[str, Any]) -> None:
            ack()

            def notify(text: str) -> None:
                respond(body["response_url"], text)

            with answering(notify):
                refusal = killswitches.decide(clicked_value(body), body["user"]["id"], approve)
                if refusal:
                    notify(refusal)

        return listener

    app.action("switch.approve")(decide(True))
    app.action("switch.deny")(decide(False))

    @app.action("switch.revert")
    def open_revert(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        with answering(lambda text: respond(body["response_url"], text)):
            killswitches.open_revert(clicked_value(body), body["trigger_id"], body["response_url"])

    @app.view(REQUEST_CALLBACK)
    def request_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = submitted_values(view)
        reason = " ".join((values.get("reason") or "").split())
        errors: dict[str, str] = {}
        target: dict[str, str] = {}
        if error := reason_error(reason):
            errors["reason"] = error
        metadata = read_metadata(view)
        switch = services.runbook.switches.get(str(metadata.get("switch")))
        if switch is not None and needs_user(switch):
            try:
                target["user_id"] = parse_id(values.get("user_id") or "", prefix=USER_PREFIX)
            except ValueError as invalid:
                errors["user_id"] = str(invalid)
        if switch is not None and needs_provider(switch):
            if values.get("provider"):
                target["provider"] = str(values["provider"])
            else:
                errors["provider"] = "Pick the provider."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        actor = body["user"]["id"]
        with answering(notifier(services, actor, metadata)):
            killswitches.request(
                int(metadata["incident"]),
                actor,
                reason,
                metadata.get("switch"),
                metadata.get("scope"),
                metadata.get("step"),
                target,
            )

    @app.view(REVERT_CALLBACK)
    def revert_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = " ".join((submitted_values(view).get("reason") or "").split())
        if error := reason_error(reason):
            ack(response_action="errors", errors={"reason": error})
            return
        ack()
        metadata = read_metadata(view)
        actor = body["user"]["id"]
        with answering(notifier(services, actor, metadata)):
            killswitches.request_revert(str(metadata["approval"]), actor, reason)


def killswitch_command(services: Services, command: dict[str, Any], key: str) -> None:
    """`/incident killswitch [KEY]`: the panel, or the request form for one switch."""
    incident = services.incidents.in_channel(command["channel_id"])
    if incident is None:
        raise UserError("Use `/incident killswitch` in an incident channel.")
    gate = services.killswitches
    if not gate.available(incident):
        raise UserError(
            "Salesforce is not connected, so the bot cannot run kill switches; the panel in the first "
            "five minutes shows how to do each by hand."
        )
    if key:
        gate.open_request(incident, None, None, key, command["trigger_id"], command["response_url"])
    else:
        gate.show_panel(incident, lambda text, blocks: respond(command["response_url"], text, blocks))
