"""Kill switches on screen: the panel, the request form, the request card (in the channel, and in approvers'
direct messages) and the revert form."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.approval import Action, ApprovalRequest, Outcome, RequestStatus, Verification
from bot.core.audit import AuditHead
from bot.core.incident import Incident
from bot.mechanisms.base import FormField
from bot.render.actions import ActionId, RequestRef, SwitchRef
from bot.render.blocks import Blocks, button, context, section
from bot.render.modals import REASON_MAX, text_object
from bot.render.mrkdwn import code, escape, plain, user

REQUEST_CALLBACK = "switch.request"
REVERT_CALLBACK = "switch.revert"
PLAN_LIMIT = 2700


def panel(incident: Incident, lines: list[tuple[str, str, str, str]], drill: bool) -> tuple[str, Blocks]:
    """The runbook's switches in priority order: (key, title, effect, state) each, and a Request button."""
    head = ":rotating_light: *Kill switches*, in the runbook's priority order. Each needs a second person to approve."
    if drill:
        head += "\n:test_tube: Drill: approvals work, executions are dry runs."
    blocks: Blocks = [section(head)]
    for index, (key, title, effect, state) in enumerate(lines, 1):
        blocks.append(
            {
                "type": "section",
                "block_id": f"switch:{key}",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{index}. {escape(title)}*\n{escape(effect)}\n_{escape(state)}_",
                },
                "accessory": button(
                    "Request…", ActionId.SWITCH_OPEN, SwitchRef(incident=incident.number, switch=key), "danger"
                ),
            }
        )
    return "Kill switches", blocks


def _input(field: FormField) -> dict[str, Any]:
    element: dict[str, Any]
    if field.options:
        options = [{"text": text_object(plain(label, 75)), "value": value} for value, label in field.options]
        element = {"type": "static_select", "action_id": "value", "options": options}
        initial = next((o for o in options if o["value"] == field.initial), None)
        if initial is not None:
            element["initial_option"] = initial
    else:
        element = {"type": "plain_text_input", "action_id": "value", "max_length": field.max_length}
        if field.initial:
            element["initial_value"] = field.initial
    block: dict[str, Any] = {
        "type": "input",
        "block_id": field.name,
        "label": text_object(field.label),
        "element": element,
    }
    if field.hint:
        block["hint"] = text_object(field.hint)
    return block


def request_form(title: str, effect: str, fields: list[FormField], metadata: dict[str, Any]) -> dict[str, Any]:
    blocks: Blocks = [section(f"*{escape(title)}*" + (f"\n{escape(effect)}" if effect else ""))]
    blocks += [_input(field) for field in fields]
    blocks.append(
        {
            "type": "input",
            "block_id": "reason",
            "label": text_object("Why? (shown to the approvers)"),
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": REASON_MAX},
        }
    )
    return {
        "type": "modal",
        "callback_id": REQUEST_CALLBACK,
        "title": text_object("Request approval"),
        "submit": text_object("Request"),
        "close": text_object("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def revert_form(request: ApprovalRequest, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REVERT_CALLBACK,
        "title": text_object("Request a revert"),
        "submit": text_object("Request"),
        "close": text_object("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            section(f"Revert *{escape(request.title)}*: a second person approves this too."),
            {
                "type": "input",
                "block_id": "reason",
                "label": text_object("Why revert now?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": REASON_MAX,
                },
            },
        ],
    }


def _when(moment: datetime | None, timezone: ZoneInfo) -> str:
    return moment.astimezone(timezone).strftime("%H:%M %Z") if moment else "?"


def card(
    request: ApprovalRequest, outcome: Outcome, approvers: str, audit: AuditHead, timezone: ZoneInfo
) -> tuple[str, Blocks]:
    """The request card: who asks and why, the target, exactly what will be sent, then what happened, and the
    audit trail's head as it stood (an anchor outside Redis)."""
    verb = "Revert" if request.action is Action.REVERT else "Request"
    drill = " :test_tube: *DRILL: dry run*" if request.drill else ""
    target = ", ".join(f"{k.replace('_', ' ')} `{escape(v)}`" for k, v in request.target.items()) or "org-wide"
    lines = [
        f":rotating_light: *{verb}: {escape(request.title)}*{drill}",
        f"*Requested by* {user(request.requester)}: “{escape(request.reason)}”",
        f"*Target* {target}",
    ]
    blocks: Blocks = [section("\n".join(lines))]
    heading = "What happens" if request.guided else ("Would send" if request.drill else "Will send") + " to the org"
    blocks.append(section(f"*{heading}*\n{code(plain(chr(10).join(request.plan), PLAN_LIMIT))}"))
    reference = RequestRef(incident=request.incident, request=request.id)
    status = outcome.status
    if status is RequestStatus.PENDING:
        blocks.append(
            context(f"Waiting for a second person ({approvers}). Expires at {_when(request.expires_at, timezone)}.")
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": f"approval:{request.id}",
                "elements": [
                    button("Approve", ActionId.SWITCH_APPROVE, reference, "primary"),
                    button("Deny", ActionId.SWITCH_DENY, reference, "danger"),
                ],
            }
        )
        blocks.append(audit_anchor(request.incident, audit))
        return f"{verb} waiting for approval: {escape(request.title)}", blocks
    blocks.append(section("\n".join(_what_happened(request, outcome, timezone))))
    if request.revertible and not request.drill and outcome.revertible_now and request.action is Action.APPLY:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"approval:{request.id}",
                "elements": [button("Revert…", ActionId.SWITCH_REVERT, reference)],
            }
        )
    blocks.append(audit_anchor(request.incident, audit))
    return f"{verb} {status.value}: {escape(request.title)}", blocks


def audit_anchor(incident: int, audit: AuditHead) -> dict[str, Any]:
    return context(
        f"Audit trail: {audit.count} entr{'y' if audit.count == 1 else 'ies'}, head `{audit.short}` "
        f"(check: `incident-bot audit verify {incident} --expect {audit.short}`)"
    )


def _what_happened(request: ApprovalRequest, outcome: Outcome, timezone: ZoneInfo) -> list[str]:
    status = outcome.status
    decided = f"{user(outcome.decided_by or '?')} at {_when(outcome.decided_at, timezone)}"
    if status is RequestStatus.DENIED:
        return [f":no_entry: Denied by {decided}. Nothing was sent."]
    if status is RequestStatus.EXPIRED:
        return [
            f":hourglass: Expired at {_when(request.expires_at, timezone)} without a second person. Nothing was sent."
        ]
    lines = [f":white_check_mark: Approved by {decided}."] if outcome.decided_by else []
    if status is RequestStatus.CANCELLED:
        lines.append(":no_entry_sign: *Cancelled*: the incident was resolved before it was sent. Nothing was sent.")
    elif status in (RequestStatus.APPROVED, RequestStatus.PREPARING, RequestStatus.SENDING):
        lines.append(":gear: Running…")
    elif status is RequestStatus.GUIDED:
        lines.append(
            ":raising_hand: *Your turn*: make the change in Setup as shown above; the bot is reading the org until "
            "it shows."
        )
    elif status is RequestStatus.UNKNOWN:
        lines.append(f":grey_question: *Outcome unknown*: {escape(outcome.error)}")
    elif status is RequestStatus.APPLIED:
        lines.append(f":white_check_mark: *Applied*: {escape(outcome.result)}")
    elif status is RequestStatus.EXECUTED:
        lines.append(f":white_check_mark: *Executed*: {escape(outcome.result)}")
    elif status is RequestStatus.DRY_RUN:
        lines.append(f":test_tube: *Dry run*: {escape(outcome.result)}")
    elif status is RequestStatus.FAILED:
        lines.append(f":x: *Failed*: {escape(outcome.error)}")
    elif status is RequestStatus.UNCHANGED:
        lines.append(f":heavy_minus_sign: *Already in place*: {escape(outcome.result)}")
    lines += _verification(status, outcome)
    if outcome.prior:
        prior = ", ".join(f"{k} was {v!r}" for k, v in outcome.prior.items())
        lines.append(f"_Prior: {escape(plain(prior, 1500))}_")
    if outcome.reverted_by:
        lines.append(f":leftwards_arrow_with_hook: Revert requested: `{outcome.reverted_by}`")
    return lines


def _verification(status: RequestStatus, outcome: Outcome) -> list[str]:
    if outcome.verification is Verification.VERIFIED:
        return [f":heavy_check_mark: *Verified*: {escape(outcome.observed)}"]
    if outcome.verification is Verification.NOT_VERIFIED:
        return [f":warning: *NOT VERIFIED*: {escape(outcome.observed)}"]
    if outcome.observed and status in (
        RequestStatus.EXECUTED,
        RequestStatus.APPLIED,
        RequestStatus.UNKNOWN,
        RequestStatus.GUIDED,
    ):
        return [f":information_source: {escape(outcome.observed)}"]
    return []


def direct_notice(incident: Incident, link: str) -> tuple[str, Blocks]:
    """What a configured approver gets in a direct message for a private incident: a link, nothing more."""
    text = f"An approval waits for you in a private incident ({incident.reference}): {link}"
    return "An approval waits for you", [section(f":lock: {text}")]
