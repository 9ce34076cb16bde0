"""Modal submissions: each form's values are checked before the ack (an error shows under its field, and the
form stays open with what was typed); then one use case runs and a presenter shows what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.core.incident import ROOT_CAUSE_REQUIRED, InvalidDeclaration, make_declaration, needs_postmortem
from bot.core.playbook import parse_parameter
from bot.core.response import UpdateStatus
from bot.core.walkthrough import StepAction
from bot.presenters.reply import reply_to
from bot.render.modals import (
    CHECKED_CALLBACK,
    DECLARE_CALLBACK,
    DONE_BY_HAND_CALLBACK,
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
from bot.render.switches import REQUEST_CALLBACK, REVERT_CALLBACK
from bot.services.lifecycle import Resolved
from handlers.actions import run_now
from handlers.declared import show_declared
from handlers.replies import answering

if TYPE_CHECKING:
    from bot.app import Services

REASON_ERROR = f"Say why, in at most {REASON_MAX} characters."


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def reason_error(reason: str) -> str | None:
    return REASON_ERROR if not reason or len(reason) > REASON_MAX else None


def accepted(ack: Ack, errors: dict[str, str]) -> bool:
    """Acks a form: with its errors under their fields (the form stays open with what was typed), or closing it
    when there are none. True when it closed and the use case may run."""
    if errors:
        ack(response_action="errors", errors=errors)
        return False
    ack()
    return True


def register(app: App, services: Services) -> None:
    def reply_for(body: dict[str, Any], view: dict[str, Any]) -> Any:
        return reply_to(services.slack, body["user"]["id"], read_metadata(view).get("response_url"))

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
            accepted(ack, invalid.problems)
            return
        ack()
        reply = reply_for(body, view)
        with answering(reply):
            declared = services.incidents.declare(declaration, f"view:{view['id']}")
            show_declared(services, declared, reply)

    def step_reason(callback: str) -> None:
        """A step's form that asks why: skip, done by hand, checked in the org."""

        @app.view(callback)
        def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
            reason = one_line(submitted_values(view).get("reason"))
            if not accepted(ack, {"reason": error} if (error := reason_error(reason)) else {}):
                return
            metadata = read_metadata(view)
            number, scope, step = int(metadata["incident"]), str(metadata["scope"]), str(metadata["step"])
            actor = body["user"]["id"]
            reply = reply_for(body, view)
            with answering(reply):
                walkthrough = services.walkthrough
                if callback == SKIP_CALLBACK:
                    incident = walkthrough.open_incident(number)
                    outcome = walkthrough.act(incident, scope, step, StepAction.SKIP, actor, reason=reason)
                elif callback == DONE_BY_HAND_CALLBACK:
                    outcome = walkthrough.done_by_hand(number, scope, step, actor, reason)
                else:
                    outcome = walkthrough.checked(number, scope, step, actor, reason)
                services.present.walkthrough.show(outcome, reply)

    for callback in (SKIP_CALLBACK, DONE_BY_HAND_CALLBACK, CHECKED_CALLBACK):
        step_reason(callback)

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
        if not accepted(ack, errors):
            return
        reply = reply_for(body, view)
        with answering(reply):
            number, scope, step_id = int(metadata["incident"]), str(metadata["scope"]), str(metadata["step"])
            run_now(services, number, scope, step_id, body["user"]["id"], parameters, reply)

    @app.view(RESOLVE_CALLBACK)
    def resolve_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = submitted_values(view)
        metadata = read_metadata(view)
        root_cause = one_line(values.get("root_cause"))
        incident = services.incidents.find(int(metadata.get("incident") or 0))
        errors = {}
        if incident is not None and needs_postmortem(incident.severity) and not root_cause:
            errors["root_cause"] = ROOT_CAUSE_REQUIRED
        elif len(root_cause) > ROOT_CAUSE_MAX:
            errors["root_cause"] = f"Keep it to one sentence ({ROOT_CAUSE_MAX} characters)."
        if not accepted(ack, errors):
            return
        reply = reply_for(body, view)
        with answering(reply):
            resolved = services.lifecycle.resolve(
                int(metadata["incident"]),
                body["user"]["id"],
                root_cause,
                (values.get("customer_impact") or "").strip(),
                (values.get("lessons") or "").strip(),
            )
            services.present.lifecycle.resolved(resolved)
            draft_if_wanted(services, resolved)
            reply(f":white_check_mark: {resolved.incident.reference} is resolved.")

    @app.view(UPDATE_CALLBACK)
    def update_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = submitted_values(view)
        text = (values.get("text") or "").strip()
        errors = {}
        if not text or len(text) > UPDATE_MAX:
            errors["text"] = f"Write the update, in at most {UPDATE_MAX} characters."
        if values.get("status") not in {status.value for status in UpdateStatus}:
            errors["status"] = "Pick the status."
        if not accepted(ack, errors):
            return
        metadata = read_metadata(view)
        reply = reply_for(body, view)
        with answering(reply):
            posted = services.response.post_update(
                int(metadata["incident"]), body["user"]["id"], UpdateStatus(values["status"]), text
            )
            services.present.response.update_posted(posted, reply)
            draft_if_wanted(services, posted.resolved)

    @app.view(REQUEST_CALLBACK)
    def request_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = submitted_values(view)
        metadata = read_metadata(view)
        reason = one_line(values.get("reason"))
        target = {name: str(value) for name, value in values.items() if name != "reason" and value}
        errors = services.approvals.target_errors(metadata.get("switch"), target)
        if error := reason_error(reason):
            errors["reason"] = error
        if not accepted(ack, errors):
            return
        reply = reply_for(body, view)
        with answering(reply):
            requested = services.approvals.request(
                int(metadata["incident"]),
                body["user"]["id"],
                reason,
                metadata.get("switch"),
                metadata.get("scope"),
                metadata.get("step"),
                target,
            )
            services.present.approvals.posted(requested)

    @app.view(REVERT_CALLBACK)
    def revert_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = one_line(submitted_values(view).get("reason"))
        if not accepted(ack, {"reason": error} if (error := reason_error(reason)) else {}):
            return
        reply = reply_for(body, view)
        with answering(reply):
            requested = services.approvals.request_revert(
                str(read_metadata(view)["approval"]), body["user"]["id"], reason
            )
            services.present.approvals.posted(requested)


def draft_if_wanted(services: Services, resolved: Resolved | None) -> None:
    """An incident just resolved whose severity wants a post-mortem gets its draft."""
    if resolved is not None and resolved.postmortem:
        services.lifecycle.publish_postmortem(resolved.incident.number, services.present.lifecycle)
