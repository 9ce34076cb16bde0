"""Modal submissions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.core.incident import InvalidDeclaration, make_declaration
from bot.core.playbook import parse_parameter
from bot.core.response import UpdateStatus
from bot.core.walkthrough import StepAction
from bot.render.modals import (
    DECLARE_CALLBACK,
    REASON_MAX,
    RESOLVE_CALLBACK,
    ROOT_CAUSE_MAX,
    RUN_CALLBACK,
    SKIP_CALLBACK,
    UPDATE_CALLBACK,
    UPDATE_MAX,
    read_metadata,
    submitted_values,
)
from handlers.replies import answering, declared_message, notifier

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    @app.view(DECLARE_CALLBACK)
    def declare_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = submitted_values(view)
        flags = set(values.get("flags") or [])
        try:
            declaration = make_declaration(
                title=values.get("title") or "",
                severity=values.get("severity"),
                summary=values.get("summary") or "",
                declared_by=body["user"]["id"],
                team_id=body["team"]["id"] if body.get("team") else body["user"]["team_id"],
                **{flag: flag in flags for flag in ("llm_related", "exfiltration_suspected", "private", "drill")},
            )
        except InvalidDeclaration as invalid:
            ack(response_action="errors", errors=invalid.problems)
            return
        ack()
        notify = notifier(services, body["user"]["id"], read_metadata(view))
        with answering(notify):
            services.incidents.declare(
                declaration,
                delivery_key=f"view:{view['id']}",
                announce=lambda declared: notify(declared_message(declared)),
            )

    @app.view(SKIP_CALLBACK)
    def skip_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = " ".join((submitted_values(view).get("reason") or "").split())
        if not reason or len(reason) > REASON_MAX:
            ack(response_action="errors", errors={"reason": f"Say why, in at most {REASON_MAX} characters."})
            return
        ack()
        metadata = read_metadata(view)
        actor = body["user"]["id"]
        notify = notifier(services, actor, metadata)
        with answering(notify):
            outcome = services.walkthrough.act(
                int(metadata["incident"]),
                str(metadata["scope"]),
                str(metadata["step"]),
                StepAction.SKIP,
                actor,
                reason=reason,
            )
            if outcome.message:
                notify(outcome.message)

    @app.view(RUN_CALLBACK)
    def run_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        metadata = read_metadata(view)
        step = services.runbook.step(str(metadata.get("scope")), str(metadata.get("step")))
        values = submitted_values(view)
        parameters: dict[str, object] = {}
        errors: dict[str, str] = {}
        for parameter in step.parameters if step else ():
            try:
                parameters[parameter.name] = parse_parameter(parameter, values.get(parameter.name) or "")
            except ValueError as error:
                errors[parameter.name] = str(error)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        actor = body["user"]["id"]
        notify = notifier(services, actor, metadata)
        with answering(notify):
            outcome = services.walkthrough.run(
                int(metadata["incident"]), str(metadata["scope"]), str(metadata["step"]), actor, parameters
            )
            if outcome.message:
                notify(outcome.message)

    @app.view(RESOLVE_CALLBACK)
    def resolve_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = submitted_values(view)
        metadata = read_metadata(view)
        root_cause = " ".join((values.get("root_cause") or "").split())
        if metadata.get("root_cause_required") and not root_cause:
            ack(
                response_action="errors", errors={"root_cause": "SEV-1 and SEV-2 need the root cause, in one sentence."}
            )
            return
        if len(root_cause) > ROOT_CAUSE_MAX:
            ack(
                response_action="errors",
                errors={"root_cause": f"Keep it to one sentence ({ROOT_CAUSE_MAX} characters)."},
            )
            return
        ack()
        actor = body["user"]["id"]
        notify = notifier(services, actor, metadata)
        with answering(notify):
            incident = services.lifecycle.resolve(
                int(metadata["incident"]),
                actor,
                root_cause,
                (values.get("customer_impact") or "").strip(),
                (values.get("lessons") or "").strip(),
            )
            notify(f":white_check_mark: {incident.reference} is resolved.")

    @app.view(UPDATE_CALLBACK)
    def update_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = submitted_values(view)
        text = (values.get("text") or "").strip()
        errors = {}
        if not text or len(text) > UPDATE_MAX:
            errors["text"] = f"Write the update, in at most {UPDATE_MAX} characters."
        if values.get("status") not in {status.value for status in UpdateStatus}:
            errors["status"] = "Pick the status."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        metadata = read_metadata(view)
        actor = body["user"]["id"]
        notify = notifier(services, actor, metadata)
        with answering(notify):
            notify(
                services.response.post_update(int(metadata["incident"]), actor, UpdateStatus(values["status"]), text)
            )
