"""The whole runbook as one checked object: severities, the first five minutes, the playbooks, the kill switches
and the post-mortem template, each step of a kind from `bot/kinds`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.incident import Incident
from bot.core.playbook import FIRST_FIVE, Checklist, Playbook, Probe, StepBase
from bot.core.severity import SeverityMatrix
from bot.kinds import Step
from bot.mechanisms import KillSwitchCatalogue
from bot.mechanisms.base import OrgSetup


@dataclass(frozen=True)
class Runbook:
    severities: SeverityMatrix
    first_five: Checklist[Step]
    playbooks: tuple[Playbook[Step], ...]
    switches: KillSwitchCatalogue
    postmortem_template: str

    def playbook(self, key_or_number: str) -> Playbook[Step] | None:
        wanted = key_or_number.strip().lower()
        return next((p for p in self.playbooks if wanted in (p.key, str(p.number))), None)

    def step(self, scope: str, step_id: str) -> StepBase | None:
        """A step by the scope it lives in: `first-five` or a playbook key."""
        steps = self.first_five.all_steps() if scope == FIRST_FIVE else self._playbook_steps(scope)
        return next((step for step in steps if step.id == step_id), None)

    def _playbook_steps(self, key: str) -> list[StepBase]:
        playbook = self.playbook(key)
        return list(playbook.all_steps()) if playbook else []

    def labels(self, *, titled: bool = False) -> dict[str, str]:
        """Each playbook's name for people: `Playbook 2`, or titled `Playbook 2. Rate-limit storm`."""
        return {p.key: f"Playbook {p.number}" + (f". {p.title}" if titled else "") for p in self.playbooks}

    def probes(self) -> list[tuple[str | None, Probe[Step]]]:
        """Every probe with the playbook it ranks (None for the first five minutes' measurements)."""
        return [(None, probe) for probe in self.first_five.probes] + [
            (playbook.key, probe) for playbook in self.playbooks for probe in playbook.probes
        ]

    def suggestions(self, incident: Incident) -> list[Playbook[Step]]:
        """Playbooks whose signals the declaration raised (LLM-related, exfiltration suspected)."""
        raised = {signal for signal in ("llm_related", "exfiltration_suspected") if getattr(incident, signal)}
        return [p for p in self.playbooks if raised & set(p.suggested_when)]


class RunbookSwitches:
    """How to throw each kill switch by hand, for the steps that show it when the bot cannot."""

    def __init__(self, runbook: Runbook, setup: OrgSetup) -> None:
        self.runbook = runbook
        self.setup = setup

    def manual(self, key: str | None) -> str:
        catalogue = self.runbook.switches
        switches = [catalogue.get(key)] if key else list(catalogue.switches)
        lines = []
        for index, switch in enumerate((s for s in switches if s), 1):
            lines.append(
                f"{index}. {switch.title} ({switch.effect}):\n   {switch.uses.manual(switch.mechanism, self.setup)}"
            )
        return "\n".join(lines)
