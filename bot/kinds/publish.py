"""A test publish: one platform event created through the REST API (Salesforce answers OPERATION_ENQUEUED,
which is success). `$running_user_id` stands for the user the bot runs as."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bot.adapters.salesforce.errors import SalesforceError
from bot.core.playbook import Risk, StepBase
from bot.core.walkthrough import StepResult
from bot.kinds.base import Kind, RunContext, call_failed, read_or_change

RUNNING_USER = "$running_user_id"


class PublishStep(StepBase):
    kind: Literal["publish"]
    sobject: str
    fields: dict[str, str]

    @model_validator(mode="after")
    def _risk(self) -> PublishStep:
        read_or_change(self)
        if self.risk is Risk.READ:
            raise ValueError("publishing an event changes the org: a publish step is a change")
        return self


class Publish(Kind):
    name = "publish"
    model = PublishStep
    run_label = "Publish"
    needs_org = True
    drill_safe = False

    def manual(self, step: StepBase, values: dict[str, object]) -> str:
        assert isinstance(step, PublishStep)
        assignments = ",\n  ".join(f"{name} = '{value}'" for name, value in step.fields.items())
        event = f"EventBus.publish(new {step.sobject}(\n  {assignments}\n));"
        return event.replace(f"'{RUNNING_USER}'", "UserInfo.getUserId()")

    def unavailable(self, step: StepBase) -> str:
        return "Salesforce is not connected: publish it by hand (`sf apex run`), then mark it done."

    def run(self, step: StepBase, values: dict[str, object], context: RunContext) -> StepResult:
        assert isinstance(step, PublishStep) and context.org is not None
        try:
            fields = {k: context.org.user_id if v == RUNNING_USER else v for k, v in step.fields.items()}
            record_id = context.org.create(step.sobject, fields)
        except SalesforceError as error:
            raise call_failed(step, error) from None
        return StepResult(at=context.now, statement=f"{step.sobject} {fields}", rows=[{"id": record_id}], total=1)

    def summary(self, step: StepBase, result: StepResult) -> str:
        assert isinstance(step, PublishStep)
        if result.dry_run:
            return "Dry run (drill): nothing was sent to the org."
        return f"Published {step.sobject} {result.rows[0]['id']} (Salesforce queued it: OPERATION_ENQUEUED)."

    def describe(self, step: StepBase) -> list[str]:
        assert isinstance(step, PublishStep)
        return [f"publish {step.sobject}: {step.fields}"]


KIND = Publish()
