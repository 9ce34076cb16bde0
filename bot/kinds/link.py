"""A link: a page to follow (another runbook, a dashboard), whose URL is a setting the operator fills in."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints, model_validator

from bot.core.playbook import StepBase
from bot.kinds.base import Capabilities, Kind, StepDisplay, read_or_change


class LinkStep(StepBase):
    kind: Literal["link"]
    # the name of the setting that holds the URL (settings named *_url)
    url_setting: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*_url$")]

    @model_validator(mode="after")
    def _risk(self) -> LinkStep:
        read_or_change(self)
        return self


class Link(Kind):
    name = "link"
    model = LinkStep

    def display(self, step: StepBase, capabilities: Capabilities, values: dict[str, object]) -> StepDisplay:
        assert isinstance(step, LinkStep)
        url = capabilities.step_settings.get(step.url_setting)
        return StepDisplay(url=url, missing=None if url else f"Set {step.url_setting.upper()} to link it here.")

    def describe(self, step: StepBase) -> list[str]:
        assert isinstance(step, LinkStep)
        return [f"link: {step.url_setting.upper()}"]


KIND = Link()
