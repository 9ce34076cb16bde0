"""Block Kit for the walkthrough: the first-five-minutes checklist, playbook phases and the playbook picker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.incident import Incident
from bot.core.playbook import FIRST_FIVE, Checklist, Phase, Playbook, Risk, Step, StepKind
from bot.core.walkthrough import PENDING, StepState, StepStatus, state_key, visible
from bot.render.blocks import Blocks, context, section
from bot.render.mrkdwn import escape, plain, user

ICONS = {
    StepStatus.PENDING: ":white_large_square:",
    StepStatus.RUNNING: ":hourglass_flowing_sand:",
    StepStatus.DONE: ":white_check_mark:",
    StepStatus.SKIPPED: ":fast_forward:",
    StepStatus.NOT_APPLICABLE: ":heavy_minus_sign:",
    StepStatus.FAILED: ":x:",
}
RISK_TAGS = {
    Risk.READ: "",
    Risk.CHANGE: " `change`",
    Risk.DESTRUCTIVE: " `destructive: two-person approval`",
}
CODE_LIMIT = 2800


@dataclass(frozen=True)
class StepPresentation:
    """How a step's work can be done right now: by the bot (run_label), by hand (manual), or by link (url)."""

    run_label: str | None = None
    manual: str | None = None
    missing: str | None = None
    url: str | None = None


Present = Callable[[Step], StepPresentation]


def value(incident: Incident, scope: str, step_id: str) -> str:
    return f"{incident.number}:{scope}:{step_id}"


def button(text: str, action_id: str, value: str, style: str | None = None, url: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": plain(text, 75)},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    return element


def state_line(state: StepState, timezone: ZoneInfo) -> str:
    if state.status is StepStatus.PENDING:
        return ""
    when = state.at.astimezone(timezone).strftime("%H:%M") if state.at else ""
    who = f" by {user(state.by)}" if state.by else " by the bot"
    line = {
        StepStatus.RUNNING: f"Running, started{who} at {when}",
        StepStatus.DONE: f"Done{who} at {when}",
        StepStatus.SKIPPED: f"Skipped{who} at {when}: {escape(state.reason)}",
        StepStatus.NOT_APPLICABLE: f"Not applicable{who} at {when}",
        StepStatus.FAILED: f"Failed at {when}: {escape(state.error)}",
    }[state.status]
    return f"_{line}_" + (f"\n{escape(state.result)}" if state.result else "")


def step_blocks(
    incident: Incident,
    scope: str,
    step: Step,
    depth: int,
    state: StepState,
    presentation: StepPresentation,
    timezone: ZoneInfo,
) -> Blocks:
    indent = "      " * depth + ("↳ " if depth else "")
    lines = [f"{indent}{ICONS[state.status]} *{escape(step.title)}*{RISK_TAGS[step.risk]}"]
    if step.detail and not state.status.settled:
        lines.append(step.detail)
    if state.choice:
        chosen = next((c.label for c in step.choices if c.id == state.choice), state.choice)
        lines.append(f"Chosen: *{escape(chosen)}*")
    status_text = state_line(state, timezone)
    if status_text:
        lines.append(status_text)
    blocks: Blocks = [section("\n".join(lines))]
    if state.status.settled or state.status is StepStatus.RUNNING:
        return blocks
    if presentation.manual:
        blocks.append(section(f"```{escape(plain(presentation.manual, CODE_LIMIT))}```"))
    if presentation.missing:
        blocks.append(context(presentation.missing))
    blocks.append(
        {
            "type": "actions",
            "block_id": f"step:{step.id}",
            "elements": _buttons(incident, scope, step, state, presentation),
        }
    )
    return blocks


def _buttons(
    incident: Incident, scope: str, step: Step, state: StepState, presentation: StepPresentation
) -> list[dict[str, Any]]:
    target = value(incident, scope, step.id)
    if step.kind is StepKind.DECISION:
        return [button(choice.label, f"step.choose.{choice.id}", target) for choice in step.choices]
    elements = []
    if presentation.run_label:
        label = "Retry" if state.status is StepStatus.FAILED else presentation.run_label
        style = "danger" if step.risk is Risk.DESTRUCTIVE else "primary"
        elements.append(button(label, "step.run", target, style=style))
    if presentation.url:
        elements.append(button("Open", "step.link", target, url=presentation.url))
    elements += [
        button("Done", "step.done", target, style=None if presentation.run_label else "primary"),
        button("Skip…", "step.skip", target),
        button("N/A", "step.na", target),
    ]
    return elements


def steps_blocks(
    incident: Incident,
    scope: str,
    steps: tuple[Step, ...],
    states: dict[str, StepState],
    present: Present,
    timezone: ZoneInfo,
) -> Blocks:
    blocks: Blocks = []
    for depth, step in visible(steps, scope, states):
        state = states.get(state_key(scope, step.id), PENDING)
        blocks += step_blocks(incident, scope, step, depth, state, present(step), timezone)
    return blocks


def checklist_message(
    incident: Incident, checklist: Checklist, states: dict[str, StepState], present: Present, timezone: ZoneInfo
) -> tuple[str, Blocks]:
    head = section(f":stopwatch: *{escape(checklist.title)}* for {incident.reference}")
    blocks = [head, *steps_blocks(incident, FIRST_FIVE, checklist.steps, states, present, timezone)]
    return f"{checklist.title} for {incident.reference}", blocks


def phase_message(
    incident: Incident,
    playbook: Playbook,
    phase: Phase,
    states: dict[str, StepState],
    present: Present,
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
    blocks += steps_blocks(incident, playbook.key, phase.steps, states, present, timezone)
    following = playbook.next_phase(phase.name)
    if following is not None and not next_posted:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"phase:{phase.name.value}",
                "elements": [
                    button(
                        f"Next phase: {following.name.value.capitalize()}",
                        "phase.next",
                        f"{incident.number}:{playbook.key}:{following.name.value}",
                    )
                ],
            }
        )
    return f"{title}: {phase.name.value}", blocks


def picker_message(
    incident: Incident, playbooks: tuple[Playbook, ...], suggested: list[Playbook], running: list[str]
) -> tuple[str, Blocks]:
    lines = [":mag: *Pick the playbook that matches* (more than one can run)."]
    if suggested:
        lines.append("Suggested from the declaration: " + ", ".join(f"*{p.number}. {p.title}*" for p in suggested))
    if running:
        titles = {p.key: f"{p.number}. {p.title}" for p in playbooks}
        lines.append("Running: " + ", ".join(titles.get(key, key) for key in running))
    options = [
        {
            "text": {"type": "plain_text", "text": plain(f"{p.number}. {p.title}", 75)},
            "value": f"{incident.number}:{p.key}",
        }
        for p in playbooks
        if p.key not in running
    ]
    elements: list[dict[str, Any]] = [
        button(f"Start {p.number}. {p.title}", f"playbook.pick.{p.key}", f"{incident.number}:{p.key}", "primary")
        for p in suggested
        if p.key not in running
    ]
    if options:
        elements.append(
            {
                "type": "static_select",
                "action_id": "playbook.pick",
                "placeholder": {"type": "plain_text", "text": "Choose a playbook"},
                "options": options,
            }
        )
    blocks: Blocks = [section("\n".join(lines))]
    if elements:
        blocks.append({"type": "actions", "block_id": "picker", "elements": elements})
    return "Pick a playbook", blocks


def security_suggestion(incident: Incident) -> tuple[str, Blocks] | None:
    """For a playbook that suspects exfiltration: SEV-1 by the matrix, and a private channel to investigate in."""
    lines, elements = [], []
    if incident.severity.value > 1:
        lines.append(
            f"Data exfiltration suspected is *SEV-1* in the severity matrix; {incident.reference} is "
            f"{incident.severity.label}."
        )
        elements.append(button("Raise to SEV-1", "incident.severity", f"{incident.number}:1", "danger"))
    if not incident.private:
        lines.append("Keep the investigation of a suspect out of public view: declare a private incident for it.")
        elements.append(button("Declare a private incident", "incident.declare_private", str(incident.number)))
    if not lines:
        return None
    return "Suspected exfiltration", [
        section(":shield: " + "\n".join(lines)),
        {"type": "actions", "block_id": "security", "elements": elements},
    ]
