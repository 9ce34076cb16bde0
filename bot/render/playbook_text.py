"""Plain-text rendering of a playbook for the terminal (`incident-bot playbooks show KEY`)."""

from __future__ import annotations

from bot.core.playbook import Checklist, Playbook, Step
from bot.core.runbook import Runbook


def _step_lines(step: Step, number: str, indent: str) -> list[str]:
    lines = [f"{indent}{number} {step.title}  [{step.kind.value} · {step.risk.value}]  ({step.id})"]
    inner = indent + "     "
    if step.detail:
        lines += [f"{inner}{line}" for line in step.detail.splitlines()]
    if step.soql:
        api = " (Tooling API)" if step.api == "tooling" else ""
        lines.append(f"{inner}SOQL{api}: {' '.join(step.soql.split())}")
    if step.window_hours:
        lines.append(f"{inner}window: the last {step.window_hours} h, as {{since}} … {{until}}")
    if step.text_filter:
        lines.append(f"{inner}filtered by the bot: {step.text_filter.field} contains “{step.text_filter.contains}”")
    if step.apex:
        lines += [f"{inner}| {line}" for line in step.apex.splitlines()]
    if step.sobject and step.fields:
        lines.append(f"{inner}publish {step.sobject}: {step.fields}")
    if step.switch:
        lines.append(f"{inner}kill switch: {step.switch}")
    if step.url_setting:
        lines.append(f"{inner}link: {step.url_setting.upper()}")
    for parameter in step.parameters:
        lines.append(f"{inner}parameter {parameter.name} ({parameter.type.value}): {parameter.label}")
    for choice in step.choices:
        lines.append(f"{inner}▸ {choice.label}")
        for index, branch_step in enumerate(choice.steps, 1):
            lines += _step_lines(branch_step, f"{index}.", inner + "  ")
    return lines


def playbook_text(playbook: Playbook | Checklist) -> str:
    if isinstance(playbook, Checklist):
        lines = [playbook.title, ""]
        for index, step in enumerate(playbook.steps, 1):
            lines += _step_lines(step, f"{index}.", "  ")
        return "\n".join(lines)
    lines = [f"Playbook {playbook.number}. {playbook.title}  [{playbook.key}]"]
    if playbook.symptoms:
        lines += ["Symptoms:", *(f"  - {symptom}" for symptom in playbook.symptoms)]
    if playbook.suggested_when:
        lines.append(f"Suggested when: {', '.join(playbook.suggested_when)}")
    for phase in playbook.phases:
        lines += ["", phase.name.value.upper()]
        for index, step in enumerate(phase.steps, 1):
            lines += _step_lines(step, f"{index}.", "  ")
    return "\n".join(lines)


def runbook_summary(runbook: Runbook) -> str:
    steps = sum(len(list(p.all_steps())) for p in runbook.playbooks) + len(list(runbook.first_five.all_steps()))
    return (
        f"OK: {len(runbook.playbooks)} playbooks, {len(runbook.switches.switches)} kill switches, "
        f"{len(runbook.severities.severities)} severities, {steps} steps"
    )
