"""What a step kind is: one module with its fields, its runner, its button label, its manual instructions, how
its result is shown and how it is described; the registry in `bot/kinds/__init__.py` finds every module here.

A kind that the bot can run (`run_label`) fetches in `run` (the slow, external part, off Slack entirely) and
shows what it found in `present`. A kind whose work changes production names the approval it needs instead
(`approval`): it then runs only behind two people, through one of the mechanisms of `bot/mechanisms`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from bot.adapters.salesforce.errors import SalesforceError, SalesforceNoAnswer
from bot.core.error_rate import HourPoint
from bot.core.playbook import Risk, StepBase
from bot.core.timeline import EntryKind
from bot.core.views import ResultView
from bot.core.walkthrough import StepResult

if TYPE_CHECKING:
    from bot.adapters.salesforce.gateway import SalesforceGateway
    from bot.adapters.status_pages import StatusPages

EXPORT_LIMIT = 10_000  # rows fetched for a query's CSV (simple-salesforce query_all pages through them)


class StepFailed(Exception):
    """A step's work failed (Salesforce refused, timed out…); the message is one sentence shown on the step."""


class StepNoAnswer(StepFailed):
    """A change was sent and no answer came: it may or may not have run, so it is not run again on a click."""


def call_failed(step: StepBase, error: SalesforceError) -> StepFailed:
    """What a failed Salesforce call makes of a step: a change that got no answer has an unknown outcome."""
    if step.risk is Risk.CHANGE and isinstance(error, SalesforceNoAnswer):
        return StepNoAnswer(f"{error} It may or may not have run: check the org before running it again.")
    return StepFailed(str(error))


class SwitchManuals(Protocol):
    def manual(self, key: str | None) -> str:
        """How to throw one kill switch by hand (or, for None, each of them, in priority order)."""
        ...


@dataclass(frozen=True)
class Capabilities:
    """What the bot can do for a step in this incident right now."""

    org: bool  # Salesforce is connected
    approvals: bool  # two-person approval can run (Salesforce connected, or a drill)
    drill: bool
    switches: SwitchManuals
    step_settings: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class StepDisplay:
    """How a step's work can be done right now: by the bot (run_label), by hand (manual), or by link (url)."""

    run_label: str | None = None
    manual: str | None = None
    missing: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class RunContext:
    """What a run may use. `org` is None when Salesforce is not connected (the kind is then not run)."""

    org: SalesforceGateway | None
    status_pages: StatusPages | None
    now: datetime
    export_limit: int = EXPORT_LIMIT
    step_settings: Mapping[str, str | None] = field(default_factory=dict)  # the settings a playbook may name


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes
    title: str


@dataclass(frozen=True)
class Shown:
    """A run's result as a view (a renderer makes it a message or a page), with files for its thread, and whether
    the worker charts it there."""

    view: ResultView
    uploads: tuple[Upload, ...] = ()
    chart: bool = False


@dataclass(frozen=True)
class Chart:
    """What the worker draws for a result: each series' hourly points, and a line to compare them with."""

    series: dict[str, list[HourPoint]]
    png_title: str
    title: str
    filename: str
    threshold_percent: float | None = None  # the severity matrix's share (the presenter sets it from severity.yaml)
    threshold_label: str = ""


@dataclass(frozen=True)
class ApprovalNeed:
    """Work that runs only behind two-person approval: a kill switch of the catalogue (by key), or a mechanism
    with what it is given. Neither means the kill-switch panel: the responders pick the switch."""

    switch: str | None = None
    mechanism: str | None = None
    change: dict[str, Any] = field(default_factory=dict)


def read_or_change(step: StepBase) -> StepBase:
    """The model check of the kinds that run on one click: destructive work goes through approval instead."""
    if step.risk is Risk.DESTRUCTIVE:
        raise ValueError(
            f"a destructive {step.kind} step is outside the approval path: only apex and kill_switch steps run "
            "behind two-person approval"
        )
    return step


class Kind:
    """The defaults: a step a person does and marks done. Each kind module overrides what it adds."""

    name: ClassVar[str]
    model: ClassVar[type[StepBase]]
    run_label: ClassVar[str | None] = None  # the bot can do the step's work (given `needs_org` is met)
    needs_org: ClassVar[bool] = False
    drill_safe: ClassVar[bool] = True  # its run changes nothing (reads), so a drill runs it for real
    result_entry: ClassVar[EntryKind] = EntryKind.STEP  # how the timeline files a change that brings a result
    in_steps_taken: ClassVar[bool] = True  # the post-mortem lists it done among the steps taken

    def display(self, step: StepBase, capabilities: Capabilities, values: dict[str, object]) -> StepDisplay:
        runnable = self.run_label is not None and (capabilities.org or not self.needs_org)
        if runnable:
            return StepDisplay(run_label=self.run_label)
        manual = self.manual(step, values)
        return StepDisplay(manual=manual, missing=self.unavailable(step) if manual or self.run_label else None)

    def manual(self, step: StepBase, values: dict[str, object]) -> str | None:
        """What to run by hand, exactly, with this incident's values; None when there is nothing to run."""
        return None

    def unavailable(self, step: StepBase) -> str:
        return "The bot cannot run this step: do it by hand, then mark it done."

    def approval(self, step: StepBase, values: dict[str, object]) -> ApprovalNeed | None:
        """What approval the step's work needs; None for work the bot may run on one click."""
        return None

    def run(self, step: StepBase, values: dict[str, object], context: RunContext) -> StepResult:
        raise StepFailed(f"The bot does not run {self.name} steps.")

    def dry_run(self, step: StepBase, values: dict[str, object], now: datetime) -> StepResult:
        """What a drill shows instead of running a step that changes the org: exactly what would be sent."""
        return StepResult(at=now, statement=self.manual(step, values) or "", rows=[], total=0, dry_run=True)

    def present(self, reference: str, step: StepBase, result: StepResult) -> Shown | None:
        """The message a run posts in the channel; None when the step's own line says it all."""
        return None

    def chart(self, reference: str, step: StepBase, result: StepResult) -> Chart | None:
        """What the worker draws after `present` asked for a chart; None for the kinds that draw nothing."""
        return None

    def remembers(self, step: StepBase, result: StepResult, known: Mapping[str, str]) -> dict[str, str]:
        """Parameters the incident keeps from this result for the forms that follow (none by default)."""
        return {}

    def summary(self, step: StepBase, result: StepResult) -> str:
        """One line for the step and the timeline."""
        if result.dry_run:
            return "Dry run (drill): nothing was sent to the org."
        return f"{result.total} row{'s' if result.total != 1 else ''}"

    def describe(self, step: StepBase) -> list[str]:
        """Lines for `incident-bot playbooks show`."""
        return []
