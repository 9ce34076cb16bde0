"""A check: something a person does or looks at, then marks done (no run, no approval)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bot.core.playbook import StepBase
from bot.kinds.base import Kind, read_or_change


class CheckStep(StepBase):
    kind: Literal["check"]

    @model_validator(mode="after")
    def _risk(self) -> CheckStep:
        read_or_change(self)
        return self


class Check(Kind):
    name = "check"
    model = CheckStep


KIND = Check()
