"""The whole runbook as one checked object: severities, first five minutes, playbooks, kill switches."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.incident import Incident
from bot.core.playbook import FIRST_FIVE, Checklist, KillSwitchCatalogue, Playbook, Step
from bot.core.severity import SeverityMatrix


@dataclass(frozen=True)
class Runbook:
    severities: SeverityMatrix
    first_five: Checklist
    playbooks: tuple[Playbook, ...]
    switches: KillSwitchCatalogue
    postmortem_template: str

    def playbook(self, key_or_number: str) -> Playbook | None:
        wanted = key_or_number.strip().lower()
        return next((p for p in self.playbooks if wanted in (p.key, str(p.number))), None)

    def step(self, scope: str, step_id: str) -> Step | None:
        """A step by the scope it lives in: `first-five` or a playbook key."""
        steps = self.first_five.all_steps() if scope == FIRST_FIVE else self._playbook_steps(scope)
        return next((step for step in steps if step.id == step_id), None)

    def _playbook_steps(self, key: str) -> list[Step]:
        playbook = self.playbook(key)
        return list(playbook.all_steps()) if playbook else []

    def suggestions(self, incident: Incident) -> list[Playbook]:
        """Playbooks whose signals the declaration raised (LLM-related, exfiltration suspected)."""
        raised = {signal for signal in ("llm_related", "exfiltration_suspected") if getattr(incident, signal)}
        return [p for p in self.playbooks if raised & set(p.suggested_when)]
