"""Block Kit for the walkthrough: the first-five-minutes checklist, playbook phases and the playbook picker.

Every button is built from the action codec (`bot/render/actions.py`); what a step offers (Run, a link, the
exact statement to run by hand) is its kind's display (`bot/kinds`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.evidence import Probed, Ranked
from bot.core.incident import Incident
from bot.core.playbook import FIRST_FIVE, Checklist, Phase, Playbook, Risk, StepBase
from bot.core.walkthrough import PENDING, StepState, StepStatus, run_allowed_from, state_key, visible
from bot.kinds.base import StepDisplay
from bot.render.actions import (
    ActionId,
    ChoiceRef,
    PhaseRef,
    PlaybookRef,
    Ref,
    SeverityRef,
    StepRef,
    element_action,
    encode,
)
from bot.render.blocks import Blocks, button, context, section
from bot.render.evidence import evidence_lines
from bot.render.mrkdwn import code, escape, plain, user

ICONS = {
    StepStatus.PENDING: ":white_large_square:",
    StepStatus.RUNNING: ":hourglass_flowing_sand:",
    StepStatus.DONE: ":white_check_mark:",
    StepStatus.SKIPPED: ":fast_forward:",
    StepStatus.NOT_APPLICABLE: ":heavy_minus_sign:",
    StepStatus.FAILED: ":x:",
    StepStatus.UNKNOWN: ":grey_question:",
}
RISK_TAGS = {
    Risk.READ: "",
    Risk.CHANGE: " `change`",
    Risk.DESTRUCTIVE: " `destructive: two-person approval`",
}
CODE_LIMIT = 2800
PICKER_BUTTONS = 3
Display = Callable[[StepBase], StepDisplay]


def state_line(state: StepState, timezone: ZoneInfo) -> str:
    when = state.at.astimezone(timezone).strftime("%H:%M") if state.at else ""
    who = f" by {user(state.by)}" if state.by else " by the bot"
    if state.status is StepStatus.PENDING:  # back to pending only when a person checked a change did not run
        return f"_Checked{who} at {when}: it did not run: {escape(state.reason)}_" if state.reason else ""
    line = {
        StepStatus.RUNNING: f"Running, started{who} at {when}",
        StepStatus.DONE: f"Done{who} at {when}" + (f" ({escape(state.reason)})" if state.reason else ""),
        StepStatus.SKIPPED: f"Skipped{who} at {when}: {escape(state.reason)}",
        StepStatus.NOT_APPLICABLE: f"Not applicable{who} at {when}",
        StepStatus.FAILED: f"Failed at {when}: {escape(state.error)}",
        StepStatus.UNKNOWN: f"Outcome unknown at {when}: {escape(state.error)}",
    }[state.status]
    return f"_{line}_" + (f"\n{escape(state.result)}" if state.result else "")


def step_blocks(
    incident: Incident,
    scope: str,
    step: StepBase,
    depth: int,
    state: StepState,
    display: StepDisplay,
    timezone: ZoneInfo,
) -> Blocks:
    indent = "      " * depth + ("↳ " if depth else "")
    lines = [f"{indent}{ICONS[state.status]} *{escape(step.title)}*{RISK_TAGS[step.risk]}"]
    if step.detail and not state.status.settled:
        lines.append(step.detail)
    if state.choice:
        chosen = next((b.label for b in step.branches() if b.id == state.choice), state.choice)
        lines.append(f"Chosen: *{escape(chosen)}*")
    status_text = state_line(state, timezone)
    if status_text:
        lines.append(status_text)
    blocks: Blocks = [section("\n".join(lines))]
    target = StepRef(incident=incident.number, scope=scope, step=step.id)
    if display.run_label and StepStatus.DONE in run_allowed_from(step) and state.status is StepStatus.DONE:
        run_again = button("Run again", ActionId.STEP_RUN, target)
        return [*blocks, {"type": "actions", "block_id": f"step:{step.id}", "elements": [run_again]}]
    if state.status.settled or state.status is StepStatus.RUNNING:
        return blocks
    if state.status is StepStatus.UNKNOWN:
        elements = [
            button("It ran: Done", ActionId.STEP_DONE, target),
            button("Checked: it did not run…", ActionId.STEP_CHECKED, target),
        ]
        return [*blocks, {"type": "actions", "block_id": f"step:{step.id}", "elements": elements}]
    if display.manual:
        blocks.append(section(code(plain(display.manual, CODE_LIMIT))))
    if display.missing:
        blocks.append(context(display.missing))
    blocks.append(
        {"type": "actions", "block_id": f"step:{step.id}", "elements": _buttons(incident, scope, step, state, display)}
    )
    return blocks


def _buttons(
    incident: Incident, scope: str, step: StepBase, state: StepState, display: StepDisplay
) -> list[dict[str, Any]]:
    target = StepRef(incident=incident.number, scope=scope, step=step.id)
    branches = step.branches()
    if branches:
        return [
            button(
                branch.label,
                ActionId.STEP_CHOOSE,
                ChoiceRef(incident=incident.number, scope=scope, step=step.id, choice=branch.id),
                suffix=branch.id,
            )
            for branch in branches
        ]
    elements = []
    if display.run_label:
        label = "Retry" if state.status is StepStatus.FAILED else display.run_label
        style = "danger" if step.risk is Risk.DESTRUCTIVE else "primary"
        elements.append(button(label, ActionId.STEP_RUN, target, style=style))
    if display.url:
        elements.append(button("Open", ActionId.STEP_LINK, target, url=display.url))
    done = "Done by hand…" if step.risk is Risk.DESTRUCTIVE else "Done"
    elements += [
        button(done, ActionId.STEP_DONE, target, style=None if display.run_label else "primary"),
        button("Skip…", ActionId.STEP_SKIP, target),
        button("N/A", ActionId.STEP_NOT_APPLICABLE, target),
    ]
    return elements


def steps_blocks(
    incident: Incident,
    scope: str,
    steps: tuple[StepBase, ...],
    states: dict[str, StepState],
    display: Display,
    timezone: ZoneInfo,
) -> Blocks:
    blocks: Blocks = []
    for depth, step in visible(steps, scope, states):
        state = states.get(state_key(scope, step.id), PENDING)
        blocks += step_blocks(incident, scope, step, depth, state, display(step), timezone)
    return blocks


def checklist_message(
    incident: Incident, checklist: Checklist[Any], states: dict[str, StepState], display: Display, timezone: ZoneInfo
) -> tuple[str, Blocks]:
    head = section(f":stopwatch: *{escape(checklist.title)}* for {incident.reference}")
    blocks = [head, *steps_blocks(incident, FIRST_FIVE, checklist.steps, states, display, timezone)]
    return f"{checklist.title} for {incident.reference}", blocks


def phase_message(
    incident: Incident,
    playbook: Playbook[Any],
    phase: Phase[Any],
    states: dict[str, StepState],
    display: Display,
    timezone: ZoneInfo,
    next_posted: bool,
) -> tuple[str, Blocks]:
    names = [p.name for p in playbook.phases]
    position = names.index(phase.name) + 1
    title = f"Playbook {playbook.number} · {playbook.title}"
    blocks: Blocks = [
        section(f":blue_book: *{escape(title)}*: {phase.name.value.capitalize()} ({position} of {len(names)})")
    ]
    if position == 1 and playbook.symptoms:
        blocks.append(context("Symptoms: " + " · ".join(playbook.symptoms)))
    blocks += steps_blocks(incident, playbook.key, phase.steps, states, display, timezone)
    following = playbook.next_phase(phase.name)
    if following is not None and not next_posted:
        value = PhaseRef(incident=incident.number, playbook=playbook.key, phase=following.name)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"phase:{phase.name.value}",
                "elements": [button(f"Next phase: {following.name.value.capitalize()}", ActionId.PHASE_NEXT, value)],
            }
        )
    return f"{title}: {phase.name.value}", blocks


def picker_message(
    incident: Incident, ranking: list[Ranked], suggested: list[Playbook[Any]], running: list[str], probed: Probed | None
) -> tuple[str, Blocks]:
    """The playbooks, ordered by what the probes found (the runbook's order before they answer), each with its
    one line of evidence; the ones checked and found clear, or not answering, are said too."""
    lines = [":mag: *Pick the playbook that matches* (more than one can run)."]
    if suggested:
        lines.append("Suggested from the declaration: " + ", ".join(f"*{p.number}. {p.title}*" for p in suggested))
    lines += evidence_lines(ranking, probed)
    if running:
        titles = {p.key: f"{p.number}. {p.title}" for p in ranking}
        lines.append("Running: " + ", ".join(titles.get(key, key) for key in running))
    options = [
        {
            "text": {"type": "plain_text", "text": plain(f"{p.number}. {p.title}", 75)},
            "value": encode(ActionId.PLAYBOOK_PICK, PlaybookRef(incident=incident.number, playbook=p.key)),
        }
        for p in ranking
        if p.key not in running
    ]
    pointed = [p for p in ranking if p.evidence][:PICKER_BUTTONS]
    starts = pointed + [p for p in suggested if p.key not in {r.key for r in pointed}]
    elements: list[dict[str, Any]] = [
        button(
            f"Start {p.number}. {p.title}",
            ActionId.PLAYBOOK_PICK,
            PlaybookRef(incident=incident.number, playbook=p.key),
            "primary",
            suffix=p.key,
        )
        for p in starts[:PICKER_BUTTONS]
        if p.key not in running
    ]
    if options:
        elements.append(
            {
                "type": "static_select",
                "action_id": element_action(ActionId.PLAYBOOK_PICK, "menu"),
                "placeholder": {"type": "plain_text", "text": "Choose a playbook"},
                "options": options,
            }
        )
    blocks: Blocks = [section("\n".join(lines))]
    if elements:
        blocks.append({"type": "actions", "block_id": "picker", "elements": elements})
    return "Pick a playbook", blocks


def security_suggestion(incident: Incident, raise_to_sev1: bool, suggest_private: bool) -> tuple[str, Blocks] | None:
    """For a playbook that suspects exfiltration: SEV-1 by the matrix, and a private channel to investigate in."""
    lines, elements = [], []
    if raise_to_sev1:
        lines.append(
            f"Data exfiltration suspected is *SEV-1* in the severity matrix; {incident.reference} is "
            f"{incident.severity.label}."
        )
        value = SeverityRef(incident=incident.number, severity=1)
        elements.append(button("Raise to SEV-1", ActionId.INCIDENT_SEVERITY, value, "danger"))
    if suggest_private:
        lines.append("Keep the investigation of a suspect out of public view: declare a private incident for it.")
        elements.append(
            button("Declare a private incident", ActionId.INCIDENT_DECLARE_PRIVATE, Ref(incident=incident.number))
        )
    if not lines:
        return None
    return "Suspected exfiltration", [
        section(":shield: " + "\n".join(lines)),
        {"type": "actions", "block_id": "security", "elements": elements},
    ]
