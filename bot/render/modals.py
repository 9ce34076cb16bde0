"""Modals: the declare form, and how its submitted values are read back."""

from __future__ import annotations

import json
from typing import Any

from bot.core.commands import OpenDeclareForm
from bot.core.incident import SUMMARY_MAX, TITLE_MAX, Incident
from bot.core.playbook import StepBase
from bot.core.response import UpdateStatus
from bot.core.severity import SeverityMatrix
from bot.render.mrkdwn import code, escape, plain

DECLARE_CALLBACK = "incident.declare"
SKIP_CALLBACK = "step.skip"
DONE_BY_HAND_CALLBACK = "step.done_by_hand"
CHECKED_CALLBACK = "step.checked"
RUN_CALLBACK = "step.run"
RESOLVE_CALLBACK = "incident.resolve"
UPDATE_CALLBACK = "incident.update"
UPDATE_MAX = 2000
ROOT_CAUSE_MAX = 300
NARRATIVE_MAX = 3000
PREVIEW_LIMIT = 2900
REASON_MAX = 500  # a reason to skip a step, to request or revert a change

_FLAG_OPTIONS = (
    ("llm_related", "LLM / provider related"),
    ("exfiltration_suspected", "Data exfiltration suspected"),
    ("private", "Private (security): a private channel"),
    ("drill", "Drill: executions are dry runs"),
)


def text_object(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def declare_modal(
    matrix: SeverityMatrix, prefill: OpenDeclareForm, metadata: dict[str, str], *, exfiltration: bool = False
) -> dict[str, Any]:
    severity_options = [
        {
            "text": text_object(level.level.label),
            "description": text_object(plain(f"{level.definition} ({level.response_target.describe()})", 75)),
            "value": str(level.level.value),
        }
        for level in matrix.severities
    ]
    flag_options = [{"text": text_object(label), "value": value} for value, label in _FLAG_OPTIONS]
    preset = {name for name in ("private", "drill", "llm_related") if getattr(prefill, name)}
    if exfiltration:
        preset.add("exfiltration_suspected")
    chosen = [option for option in flag_options if option["value"] in preset]
    title_input: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": TITLE_MAX}
    if prefill.title:
        title_input["initial_value"] = prefill.title[:TITLE_MAX]
    flags: dict[str, Any] = {"type": "checkboxes", "action_id": "value", "options": flag_options}
    if chosen:
        flags["initial_options"] = chosen
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "title": text_object("Declare an incident"),
        "submit": text_object("Declare"),
        "close": text_object("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "input", "block_id": "title", "label": text_object("Title"), "element": title_input},
            {
                "type": "input",
                "block_id": "severity",
                "label": text_object("Severity"),
                "element": {"type": "radio_buttons", "action_id": "value", "options": severity_options},
            },
            {
                "type": "input",
                "block_id": "summary",
                "optional": True,
                "label": text_object("Summary"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": SUMMARY_MAX,
                },
            },
            {
                "type": "input",
                "block_id": "flags",
                "optional": True,
                "label": text_object("This incident is"),
                "element": flags,
            },
        ],
    }


# What a step asks before it changes without the bot doing the work: (title, submit, heading, question).
REASON_FORMS = {
    SKIP_CALLBACK: ("Skip a step", "Skip", "Skipping *{step}*", "Why skip it?"),
    DONE_BY_HAND_CALLBACK: (
        "Done by hand",
        "Mark done",
        "*{step}* changes production. Marking it done says it was done outside the bot; the audit trail keeps "
        "who said so.",
        "What was done, and who checked it?",
    ),
    CHECKED_CALLBACK: (
        "Checked in the org",
        "It did not run",
        "*{step}* got no answer from Salesforce, so it may have run. Say what you checked in the org that shows "
        "it did not; then it can run again. The audit trail keeps who checked.",
        "What did you check?",
    ),
}


def reason_modal(callback: str, step_title: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """A step's form that asks one reason: to skip it, to mark a destructive step done by hand, or to say a change
    without an answer did not run."""
    title, submit, heading, question = REASON_FORMS[callback]
    return {
        "type": "modal",
        "callback_id": callback,
        "title": text_object(title),
        "submit": text_object(submit),
        "close": text_object("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": heading.format(step=escape(step_title))}},
            {
                "type": "input",
                "block_id": "reason",
                "label": text_object(question),
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": REASON_MAX},
            },
        ],
    }


def run_modal(
    step: StepBase, preview: str | None, remembered: dict[str, str], metadata: dict[str, Any]
) -> dict[str, Any]:
    """Asks for a step's parameters and, for a change, shows exactly what will run before it does."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(step.title)}*"}},
    ]
    if preview:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "This changes the org. It will run:"}})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": code(plain(preview, PREVIEW_LIMIT))}})
    for parameter in step.parameters:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": 255}
        initial = remembered.get(parameter.name, parameter.default)
        if initial is not None:
            element["initial_value"] = str(initial)
        block: dict[str, Any] = {
            "type": "input",
            "block_id": parameter.name,
            "label": text_object(plain(parameter.label, 2000)),
            "element": element,
        }
        if parameter.help:
            block["hint"] = text_object(parameter.help)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": RUN_CALLBACK,
        "title": text_object("Run a step"),
        "submit": text_object("Run"),
        "close": text_object("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def resolve_modal(incident: Incident, required: bool, metadata: dict[str, Any]) -> dict[str, Any]:
    """Root cause (one sentence, required for SEV-1 and SEV-2), customer impact, lessons learned."""

    def text_input(block_id: str, label: str, limit: int, multiline: bool, optional: bool) -> dict[str, Any]:
        return {
            "type": "input",
            "block_id": block_id,
            "optional": optional,
            "label": text_object(label),
            "element": {"type": "plain_text_input", "action_id": "value", "max_length": limit, "multiline": multiline},
        }

    return {
        "type": "modal",
        "callback_id": RESOLVE_CALLBACK,
        "title": text_object(plain(f"Resolve {incident.reference}", 24)),
        "submit": text_object("Resolve"),
        "close": text_object("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            text_input("root_cause", "Root cause, in one sentence", ROOT_CAUSE_MAX, False, not required),
            text_input("customer_impact", "Customer impact", NARRATIVE_MAX, True, True),
            text_input("lessons", "Lessons learned: the one thing we would change", NARRATIVE_MAX, True, True),
        ],
    }


def update_modal(incident: Incident, metadata: dict[str, Any]) -> dict[str, Any]:
    options = [{"text": text_object(status.value.capitalize()), "value": status.value} for status in UpdateStatus]
    current = next((o for o in options if o["value"] == incident.status.value), options[0])
    return {
        "type": "modal",
        "callback_id": UPDATE_CALLBACK,
        "title": text_object(plain(f"Update {incident.reference}", 24)),
        "submit": text_object("Post"),
        "close": text_object("Cancel"),
        "private_metadata": json.dumps(metadata),
        "blocks": [
            {
                "type": "input",
                "block_id": "status",
                "label": text_object("Status"),
                "element": {
                    "type": "radio_buttons",
                    "action_id": "value",
                    "options": options,
                    "initial_option": current,
                },
            },
            {
                "type": "input",
                "block_id": "text",
                "label": text_object("What people need to know"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": UPDATE_MAX,
                },
            },
        ],
    }


def submitted_values(view: dict[str, Any]) -> dict[str, Any]:
    """Each input block's value by block id: text as str, a selection as its value, checkboxes as a list."""
    values: dict[str, Any] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        for action in actions.values():
            if action.get("type") == "checkboxes":
                values[block_id] = [option["value"] for option in action.get("selected_options") or []]
            elif "selected_option" in action:
                values[block_id] = (action["selected_option"] or {}).get("value")
            elif "selected_user" in action:
                values[block_id] = action["selected_user"]
            else:
                values[block_id] = action.get("value")
    return values


def read_metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return metadata if isinstance(metadata, dict) else {}
