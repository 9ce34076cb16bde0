"""Anonymous Apex, run through the Tooling API: a change (config refresh, resume executions) runs after one
confirmation that shows exactly what will run; destructive Apex (clear the cache) runs only behind two people.

The Apex is a jinja2 template in a sandbox: values go in through the `apex_string` and `apex_datetime`
filters, and a missing value is an error, never a blank.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import model_validator

from bot.adapters.salesforce.errors import SalesforceError
from bot.core.playbook import Risk, StepBase
from bot.core.walkthrough import StepResult
from bot.kinds.base import ApprovalNeed, Capabilities, Kind, RunContext, StepDisplay, call_failed


class ApexStep(StepBase):
    kind: Literal["apex"]
    apex: str

    @model_validator(mode="after")
    def _sound(self) -> ApexStep:
        if self.risk is Risk.READ:
            raise ValueError("anonymous Apex returns nothing to read through the API: an apex step is a change")
        used = set(re.findall(r"{{\s*([a-z_][a-z0-9_]*)", self.apex))
        missing = used - self.placeholders_available()
        if missing:
            raise ValueError(f"apex uses {sorted(missing)} but no such parameter is defined")
        return self


def _apex_string(value: object) -> str:
    text = str(value)
    for raw, escaped in (("\\", "\\\\"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(raw, escaped)
    return f"'{text}'"


def _apex_datetime(value: datetime) -> str:
    moment = value.astimezone(UTC)
    return (
        f"Datetime.newInstanceGmt({moment.year}, {moment.month}, {moment.day}, "
        f"{moment.hour}, {moment.minute}, {moment.second})"
    )


_APEX = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_APEX.filters.update(apex_string=_apex_string, apex_datetime=_apex_datetime)


def render_apex(step: ApexStep, values: dict[str, object]) -> str:
    """The step's anonymous Apex with its values quoted for Apex."""
    return _APEX.from_string(step.apex).render(**values)


class Apex(Kind):
    name = "apex"
    model = ApexStep
    run_label = "Run Apex"
    needs_org = True
    drill_safe = False

    def manual(self, step: StepBase, values: dict[str, object]) -> str:
        assert isinstance(step, ApexStep)
        return render_apex(step, values)

    def unavailable(self, step: StepBase) -> str:
        if step.risk is Risk.DESTRUCTIVE:
            return (
                "Salesforce is not connected, so the bot cannot run this destructive step behind two-person "
                "approval: do it by hand with a second person checking, then mark it done."
            )
        return "Salesforce is not connected: run this by hand (`sf apex run`), then mark it done."

    def display(self, step: StepBase, capabilities: Capabilities, values: dict[str, object]) -> StepDisplay:
        if step.risk is Risk.DESTRUCTIVE and capabilities.approvals:
            return StepDisplay(run_label="Request approval")
        return super().display(step, capabilities, values)

    def approval(self, step: StepBase, values: dict[str, object]) -> ApprovalNeed | None:
        assert isinstance(step, ApexStep)
        if step.risk is not Risk.DESTRUCTIVE:
            return None
        return ApprovalNeed(mechanism="apex", change={"apex": render_apex(step, values)})

    def run(self, step: StepBase, values: dict[str, object], context: RunContext) -> StepResult:
        assert isinstance(step, ApexStep) and context.org is not None
        apex = render_apex(step, values)
        try:
            context.org.execute_anonymous(apex)
        except SalesforceError as error:
            raise call_failed(step, error) from None
        return StepResult(at=context.now, statement=apex, rows=[], total=0)

    def summary(self, step: StepBase, result: StepResult) -> str:
        return "Dry run (drill): nothing was sent to the org." if result.dry_run else "The Apex compiled and ran."

    def describe(self, step: StepBase) -> list[str]:
        assert isinstance(step, ApexStep)
        return [f"| {line}" for line in step.apex.splitlines()]


KIND = Apex()
