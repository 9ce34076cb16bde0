"""Kill switches on screen: the panel, the request form, the request card and the revert form."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.approval import Action, ApprovalRequest, Outcome, RequestStatus, needs_provider, needs_user
from bot.core.playbook import KillSwitch, ProviderSwitch
from bot.render.blocks import Blocks, context, section
from bot.render.mrkdwn import escape, plain, user
from bot.render.steps import button

REQUEST_CALLBACK = "switch.request"
REVERT_CALLBACK = "switch.revert"
REASON_MAX = 500
PLAN_LIMIT = 2700


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def panel(number: int, switches: tuple[KillSwitch, ...], states: dict[str, str], drill: bool) -> tuple[str, Blocks]:
    """The runbook's switches in priority order, each with its effect, its state where readable, and Request."""
    head = ":rotating_light: *Kill switches*, in the runbook's priority order. Each needs a second person to approve."
    if drill:
        head += "\n:test_tube: Drill: approvals work, executions are dry runs."
    blocks: Blocks = [section(head)]
    for index, switch in enumerate(switches, 1):
        blocks.append(
            {
                "type": "section",
                "block_id": f"switch:{switch.key}",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{index}. {escape(switch.title)}*\n{escape(switch.effect)}\n"
                    f"_{escape(states.get(switch.key, 'state unknown'))}_",
                },
                "accessory": button("Request…", "switch.open", f"{number}:{switch.key}", "danger"),
            }
        )
    return "Kill switches", blocks


def request_form(
    switch: KillSwitch | None, title: str, metadata: dict[str, Any], remembered_user: str | None
) -> dict[str, Any]:
    blocks: Blocks = [section(f"*{escape(title)}*" + (f"\n{escape(switch.effect)}" if switch else ""))]
    if switch is not None and needs_user(switch):
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": 18}
        if remembered_user:
            element["initial_value"] = remembered_user
        blocks.append(
            {
                "type": "input",
                "block_id": "user_id",
                "label": _text("Salesforce user Id to lock out"),
                "element": element,
                "hint": _text("15 or 18 characters, starting with 005"),
            }
        )
    if switch is not None and needs_provider(switch) and isinstance(switch.mechanism, ProviderSwitch):
        options = [{"text": _text(p), "value": p} for p in switch.mechanism.provider_fields]
        blocks.append(
            {
                "type": "input",
                "block_id": "provider",
                "label": _text("Provider to take out"),
                "element": {"type": "static_select", "action_id": "value", "options": options},
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": "reason",
            "label": _text("Why? (shown to the approvers)"),
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": REASON_MAX},
        }
    )
    return {
        "type": "modal",
        "callback_id": REQUEST_CALLBACK,
        "title": _text("Request approval"),
        "submit": _text("Request"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def revert_form(request: ApprovalRequest, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REVERT_CALLBACK,
        "title": _text("Request a revert"),
        "submit": _text("Request"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            section(f"Revert *{escape(request.title)}*: a second person approves this too."),
            {
                "type": "input",
                "block_id": "reason",
                "label": _text("Why revert now?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": REASON_MAX,
                },
            },
        ],
    }


def _when(moment: Any, timezone: ZoneInfo) -> str:
    return moment.astimezone(timezone).strftime("%H:%M %Z") if moment else "?"


def card(request: ApprovalRequest, outcome: Outcome, approvers: str, timezone: ZoneInfo) -> tuple[str, Blocks]:
    """The request card: who asks and why, the target, exactly what will be sent, then what happened."""
    verb = "Revert" if request.action is Action.REVERT else "Request"
    drill = " :test_tube: *DRILL: dry run*" if request.drill else ""
    target = ", ".join(f"{k.replace('_', ' ')} `{escape(v)}`" for k, v in request.target.items()) or "org-wide"
    lines = [
        f":rotating_light: *{verb}: {escape(request.title)}*{drill}",
        f"*Requested by* {user(request.requester)}: “{escape(request.reason)}”",
        f"*Target* {target}",
    ]
    blocks: Blocks = [section("\n".join(lines))]
    plan = "\n".join(request.plan)
    blocks.append(
        section(
            f"*{'Would send' if request.drill else 'Will send'} to the org*\n```{escape(plain(plan, PLAN_LIMIT))}```"
        )
    )
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
                    button("Approve", "switch.approve", request.id, "primary"),
                    button("Deny", "switch.deny", request.id, "danger"),
                ],
            }
        )
        return f"{verb} waiting for approval: {escape(request.title)}", blocks
    decision = {
        RequestStatus.DENIED: f":no_entry: Denied by {user(outcome.decided_by or '?')} at "
        f"{_when(outcome.decided_at, timezone)}. Nothing was sent.",
        RequestStatus.EXPIRED: f":hourglass: Expired at {_when(request.expires_at, timezone)} without a second "
        "person. Nothing was sent.",
    }.get(
        status,
        f":white_check_mark: Approved by {user(outcome.decided_by or '?')} at {_when(outcome.decided_at, timezone)}.",
    )
    result = [decision]
    if status is RequestStatus.EXECUTING:
        result.append(":gear: Running…")
    if status is RequestStatus.EXECUTED:
        result.append(f":white_check_mark: *Executed*: {escape(outcome.result)}")
    if status is RequestStatus.FAILED:
        result.append(f":x: *Failed*: {escape(outcome.error)}")
    if outcome.verified is True:
        result.append(f":heavy_check_mark: *Verified*: {escape(outcome.observed)}")
    elif outcome.verified is False:
        result.append(f":warning: *NOT VERIFIED*: {escape(outcome.observed)}")
    elif status is RequestStatus.EXECUTED and outcome.observed:
        result.append(f":information_source: {escape(outcome.observed)}")
    if outcome.prior:
        prior = ", ".join(f"{k} was {v!r}" for k, v in outcome.prior.items())
        result.append(f"_Prior: {escape(plain(prior, 1500))}_")
    if outcome.reverted_by:
        result.append(f":leftwards_arrow_with_hook: Revert requested: `{outcome.reverted_by}`")
    blocks.append(section("\n".join(result)))
    can_revert = request.revertible and not request.drill and status is RequestStatus.EXECUTED
    if can_revert and not outcome.reverted_by and request.action is Action.APPLY:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"approval:{request.id}",
                "elements": [button("Revert…", "switch.revert", request.id)],
            }
        )
    return f"{verb} {status.value}: {escape(request.title)}", blocks
