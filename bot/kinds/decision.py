"""A decision: the responders choose one branch (Playbook 2's storm source, Playbook 4's finding), and the
steps of that branch appear under it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from bot.core.playbook import Branch, StepBase, StepId, Strict
from bot.kinds.base import Kind, read_or_change

if TYPE_CHECKING:
    from bot.kinds import Step


class Choice(Strict):
    id: StepId
    label: Annotated[str, StringConstraints(max_length=75)]
    steps: tuple[Step, ...] = ()


class DecisionStep(StepBase):
    kind: Literal["decision"]
    choices: tuple[Choice, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _risk(self) -> DecisionStep:
        read_or_change(self)
        return self

    def branches(self) -> tuple[Branch, ...]:
        return self.choices


class Decision(Kind):
    name = "decision"
    model = DecisionStep


KIND = Decision()
