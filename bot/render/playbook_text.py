"""Plain-text rendering of a playbook for the terminal (`incident-bot playbooks show KEY`)."""

from __future__ import annotations

from typing import Any

from bot.core.playbook import Checklist, Playbook, Probe, StepBase
from bot.kinds import kind_of
from bot.runbook import Runbook


def _step_lines(step: StepBase, number: str, indent: str) -> list[str]:
    lines = [f"{indent}{number} {step.title}  [{step.kind} · {step.risk.value}]  ({step.id})"]
    inner = indent + "     "
    if step.detail:
        lines += [f"{inner}{line}" for line in step.detail.splitlines()]
    lines += [f"{inner}{line}" for line in kind_of(step).describe(step)]
    for parameter in step.parameters:
        lines.append(f"{inner}parameter {parameter.name} ({parameter.type.value}): {parameter.label}")
    for branch in step.branches():
        lines.append(f"{inner}▸ {branch.label}")
        for index, branch_step in enumerate(branch.steps, 1):
            lines += _step_lines(branch_step, f"{index}.", inner + "  ")
    return lines


def playbook_text(playbook: Playbook[Any] | Checklist[Any]) -> str:
    if isinstance(playbook, Checklist):
        lines = [playbook.title, ""]
        for index, step in enumerate(playbook.steps, 1):
            lines += _step_lines(step, f"{index}.", "  ")
        return "\n".join(lines + _probe_lines(playbook.probes))
    lines = [f"Playbook {playbook.number}. {playbook.title}  [{playbook.key}]"]
    if playbook.symptoms:
        lines += ["Symptoms:", *(f"  - {symptom}" for symptom in playbook.symptoms)]
    if playbook.suggested_when:
        lines.append(f"Suggested when: {', '.join(playbook.suggested_when)}")
    lines += _probe_lines(playbook.probes)
    for phase in playbook.phases:
        lines += ["", phase.name.value.upper()]
        for index, step in enumerate(phase.steps, 1):
            lines += _step_lines(step, f"{index}.", "  ")
    return "\n".join(lines)


def runbook_summary(runbook: Runbook) -> str:
    steps = sum(len(list(p.all_steps())) for p in runbook.playbooks) + len(list(runbook.first_five.all_steps()))
    return (
        f"OK: {len(runbook.playbooks)} playbooks, {len(runbook.switches.switches)} kill switches, "
        f"{len(runbook.severities.severities)} severities, {steps} steps, {len(runbook.probes())} probes"
    )


def _probe_lines(probes: tuple[Probe[Any], ...]) -> list[str]:
    lines = ["", "PROBES (run on declare and by /incident probe)"] if probes else []
    for probe in probes:
        lines.append(f"  - {probe.symptom}  [{probe.rule.type}]  ({probe.id})")
        lines += [f"       {line}" for line in kind_of(probe.query).describe(probe.query)]
        rule = ", ".join(f"{k}={v}" for k, v in probe.rule.model_dump(exclude={"type"}).items() if v is not None)
        lines += [f"       rule: {probe.rule.type} {rule}", f"       evidence: {probe.evidence}"]
    return lines
