"""A kill switch step: one switch of the catalogue (`playbooks/kill-switches.yaml`) requested for two-person
approval, or, without a switch, the whole panel to choose from (the first-five-minutes posture step)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bot.core.playbook import Key, Risk, StepBase
from bot.kinds.base import ApprovalNeed, Capabilities, Kind, StepDisplay

PANEL_LABEL = "Open kill-switch panel"


class KillSwitchStep(StepBase):
    kind: Literal["kill_switch"]
    switch: Key | None = None  # a key of the catalogue, or none to open the whole panel

    @model_validator(mode="after")
    def _risk(self) -> KillSwitchStep:
        if self.switch and self.risk is not Risk.DESTRUCTIVE:
            raise ValueError("a kill switch always goes through two-person approval: set risk: destructive")
        if not self.switch and self.risk is not Risk.READ:
            raise ValueError("the kill-switch panel only shows switches: its risk is read")
        return self


class KillSwitch(Kind):
    name = "kill_switch"
    model = KillSwitchStep
    in_steps_taken = False  # the audit rows say what the org was sent

    def display(self, step: StepBase, capabilities: Capabilities, values: dict[str, object]) -> StepDisplay:
        assert isinstance(step, KillSwitchStep)
        if capabilities.approvals:
            return StepDisplay(run_label="Request approval" if step.switch else PANEL_LABEL)
        return StepDisplay(manual=capabilities.switches.manual(step.switch), missing=self.unavailable(step))

    def unavailable(self, step: StepBase) -> str:
        return (
            "Salesforce is not connected, so the bot cannot run kill switches: change it by hand with a second "
            "person checking, then mark it done."
        )

    def approval(self, step: StepBase, values: dict[str, object]) -> ApprovalNeed:
        assert isinstance(step, KillSwitchStep)
        return ApprovalNeed(switch=step.switch)

    def describe(self, step: StepBase) -> list[str]:
        assert isinstance(step, KillSwitchStep)
        return [f"kill switch: {step.switch}" if step.switch else "kill-switch panel"]


KIND = KillSwitch()
