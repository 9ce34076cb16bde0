"""The runbook as data: what every step shares, phases, playbooks and the first five minutes.

Each step kind (query, apex, decision…) is a module of `bot/kinds` that adds its own fields to `StepBase`; this
module knows only the shared shape, so the playbook engine (`bot/core/walkthrough.py`) works for any kind. The
models refuse anything the bot could not run safely: unknown keys, duplicate step ids, phases out of order,
placeholders without a parameter, and destructive work outside two-person approval.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Generic, Literal, Protocol, TypeVar

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from bot.core.salesforce_id import USER_PREFIX, parse_id

StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
FIRST_FIVE: Final = "first-five"
WINDOW_PLACEHOLDERS = frozenset({"since", "until"})
_EVIDENCE = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Risk(StrEnum):
    READ = "read"
    CHANGE = "change"
    DESTRUCTIVE = "destructive"


class PhaseName(StrEnum):
    DISCOVERY = "discovery"
    CONTAIN = "contain"
    DIAGNOSE = "diagnose"
    RECOVER = "recover"
    POSTMORTEM = "post-mortem"


class ParameterType(StrEnum):
    SALESFORCE_ID = "salesforce_id"
    SALESFORCE_USER_ID = "salesforce_user_id"
    TEXT = "text"
    INTEGER = "integer"


class Parameter(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    label: str
    type: ParameterType = ParameterType.TEXT
    default: str | int | None = None
    help: str = ""


class Branch(Protocol):
    """A decision's choice: the steps it reveals."""

    @property
    def id(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def steps(self) -> tuple[StepBase, ...]: ...


class StepBase(Strict):
    """What every step has. A kind adds its fields and narrows `kind` to its name."""

    id: StepId
    kind: str
    title: Annotated[str, StringConstraints(min_length=1, max_length=150)]
    detail: str = ""
    risk: Risk = Risk.READ
    parameters: tuple[Parameter, ...] = ()
    # a time window ({since}, {until}) for the kinds that query or act on recent data
    window_hours: int | None = Field(default=None, ge=1, le=24 * 31)  # up to a month and a day
    # run by the bot right after the declare, when it can: always, or only for LLM / provider related incidents
    run_on_declare: Literal["never", "always", "llm_related"] = "never"
    # a step of the same playbook that counts what this one touches: it must have run, and its count is shown
    # in the confirmation (Playbook 1's resume)
    counted_by: StepId | None = None
    # a kill switch that, while in effect in the incident, makes this step refuse (no resuming into a provider
    # that is switched off)
    not_while: Key | None = None

    @model_validator(mode="after")
    def _unique_parameters(self) -> StepBase:
        names = {parameter.name for parameter in self.parameters}
        if len(names) != len(self.parameters):
            raise ValueError("parameter names must be unique")
        return self

    def branches(self) -> tuple[Branch, ...]:
        """The choices of a decision; other steps have none."""
        return ()

    def walk(self) -> Iterator[StepBase]:
        """This step and every step under its branches, depth first."""
        yield self
        for branch in self.branches():
            for step in branch.steps:
                yield from step.walk()

    def placeholders_available(self) -> set[str]:
        """The values a template of this step may use: its parameters, and the window's bounds if it has one."""
        return {p.name for p in self.parameters} | (set(WINDOW_PLACEHOLDERS) if self.window_hours else set())


S = TypeVar("S", bound=StepBase)


class Phase(Strict, Generic[S]):
    name: PhaseName
    steps: tuple[S, ...] = Field(min_length=1)


class CountRule(Strict):
    """Evidence when the rows count at least `at_least`: the sum of `column` (an aggregate's COUNT alias) over the
    rows, or the number of rows the org matched. The biggest row is `top` (its first other column); with `by`
    (rows the bot filtered, which SOQL could not group), the commonest value of `by` among the rows."""

    type: Literal["count"]
    at_least: int = Field(ge=1)
    column: str | None = None
    by: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> CountRule:
        if self.column and self.by:
            raise ValueError("count by an aggregate's column or by a field of the rows, not both")
        return self


class ShareRule(Strict):
    """The share of `failed` among the rows grouped by `column`, counted by `count`; evidence at `at_least_percent`
    or, without one, whenever at least `min_total` were counted (a measurement the severity matrix reads)."""

    type: Literal["share"]
    column: str
    failed: str
    count: str = "c"
    at_least_percent: float | None = Field(default=None, gt=0, le=100)
    min_total: int = Field(default=1, ge=1)


class RiseRule(Strict):
    """Evidence when the window counts at least `at_least` and `factor` times the window before it (the query runs
    twice, the second time one window earlier)."""

    type: Literal["rise"]
    at_least: int = Field(ge=1)
    factor: float = Field(gt=1)
    column: str | None = None


class GrowthRule(Strict):
    """Evidence when the count now (the query's total, e.g. `SELECT COUNT()` of a queue) is at least `at_least`
    more than the bot measured `over_minutes` before. The bot measures it on every probe and every
    SAMPLE_MINUTES in the worker; with no measurement from then, the finding is no data."""

    type: Literal["growth"]
    at_least: int = Field(ge=1)
    over_minutes: int = Field(default=60, ge=30, le=24 * 60)


class StaleRule(Strict):
    """Evidence when the newest row's `column` (a datetime; the query returns the newest first) is older than
    `after_minutes`, or no row came back at all."""

    type: Literal["stale"]
    column: str
    after_minutes: int = Field(ge=1)


Rule = Annotated[CountRule | ShareRule | RiseRule | GrowthRule | StaleRule, Field(discriminator="type")]
SAMPLE_MINUTES = 15  # how often the worker measures what a growth rule compares
# What each rule offers its evidence template (besides `window`, "the last hour").
RULE_VALUES: dict[str, dict[str, object]] = {
    "count": {"count": 412, "top": "005000000000ABC", "top_count": 380},
    "share": {"failed": 160, "total": 421, "percent": 38},
    "rise": {"count": 26, "previous": 8, "factor": 3.2},
    "growth": {"count": 140, "previous": 80, "growth": 60, "then": "13:00 UTC"},
    "stale": {"minutes": 47, "last": "13:13 UTC"},
}


class Probe(Strict, Generic[S]):
    """One symptom of the runbook, measured: the query (a read-only `query` step; its id and title default to the
    probe's), the rule, and the one line said when it finds evidence (jinja2, e.g. `{{ count }} errors`)."""

    id: Key
    symptom: Annotated[str, Field(min_length=1, max_length=150)]
    query: S
    rule: Rule
    evidence: Annotated[str, Field(min_length=1, max_length=300)]

    @model_validator(mode="before")
    @classmethod
    def _query_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("query"), dict):
            query = {"kind": "query", "risk": "read", **data["query"]}
            query.setdefault("id", data.get("id"))
            query.setdefault("title", data.get("symptom"))
            return {**data, "query": query}
        return data

    @model_validator(mode="after")
    def _sound(self) -> Probe[S]:
        if self.query.kind != "query" or self.query.risk is not Risk.READ:
            raise ValueError("a probe's query is a read-only `query` step")
        if self.query.parameters:
            raise ValueError("a probe runs unattended: its query takes no parameters")
        if self.rule.type == "rise" and not self.query.window_hours:
            raise ValueError("a rise compares two windows: set the query's window_hours")
        try:
            line(self.evidence, {**RULE_VALUES[self.rule.type], "window": "the last hour"})
        except TemplateError as error:
            raise ValueError(f"evidence: {error} (a {self.rule.type} rule offers {_offered(self.rule.type)})") from None
        return self


def _offered(rule: str) -> str:
    return ", ".join(sorted([*RULE_VALUES[rule], "window"]))


def line(template: str, values: dict[str, object]) -> str:
    return " ".join(_EVIDENCE.from_string(template).render(**values).split())


def located_steps(steps: tuple[StepBase, ...], path: str) -> Iterator[tuple[str, StepBase]]:
    """Each step with its path inside the YAML document (for error messages), depth first."""
    for index, step in enumerate(steps):
        here = f"{path}[{index}]"
        yield here, step
        for choice_index, branch in enumerate(step.branches()):
            yield from located_steps(branch.steps, f"{here}.choices[{choice_index}].steps")


def _unique_ids(located: Iterator[tuple[str, StepBase]]) -> None:
    """Step ids are unique, and a step that names another (`counted_by`) names one that is there."""
    seen: dict[str, str] = {}
    counted: list[tuple[str, str]] = []
    for path, step in located:
        if step.id in seen:
            raise ValueError(f"step id `{step.id}` is used twice: at {seen[step.id]} and at {path}")
        seen[step.id] = path
        if step.counted_by:
            counted.append((path, step.counted_by))
    for path, other in counted:
        if other not in seen:
            raise ValueError(f"{path}.counted_by: no step `{other}` in this playbook")


class Checklist(Strict, Generic[S]):
    """The universal first five minutes: one list of steps, posted right after the header."""

    key: Literal["first-five"] = FIRST_FIVE
    title: str
    steps: tuple[S, ...] = Field(min_length=1)
    probes: tuple[Probe[S], ...] = ()  # measurements of the whole incident (the severity matrix reads them)

    @model_validator(mode="after")
    def _ids(self) -> Checklist[S]:
        _unique_ids(located_steps(self.steps, "steps"))
        return self

    def all_steps(self) -> Iterator[StepBase]:
        for top in self.steps:
            yield from top.walk()


Signal = Literal["llm_related", "exfiltration_suspected"]


class Playbook(Strict, Generic[S]):
    key: Key
    number: int = Field(ge=1)
    title: str
    symptoms: tuple[str, ...] = ()
    suggested_when: tuple[Signal, ...] = ()
    probes: tuple[Probe[S], ...] = ()  # its symptoms, measured: they rank it in the picker
    phases: tuple[Phase[S], ...] = Field(min_length=1)

    @property
    def unprobed(self) -> tuple[str, ...]:
        """Its symptoms that no probe measures: a person looks for those."""
        return tuple(s for s in self.symptoms if s not in {probe.symptom for probe in self.probes})

    @model_validator(mode="after")
    def _order_and_ids(self) -> Playbook[S]:
        strays = [probe.id for probe in self.probes if probe.symptom not in self.symptoms]
        if strays:
            raise ValueError(
                f"probes {', '.join(strays)}: a probe's symptom is one of the playbook's symptoms, word for word"
            )
        names = [phase.name for phase in self.phases]
        if len(set(names)) != len(names):  # in the runbook's order for the playbook (Playbook 1 diagnoses first)
            raise ValueError(f"each phase at most once: {', '.join(names)}")
        _unique_ids(
            located
            for i, phase in enumerate(self.phases)
            for located in located_steps(phase.steps, f"phases[{i}].steps")
        )
        return self

    def all_steps(self) -> Iterator[StepBase]:
        for phase in self.phases:
            for top in phase.steps:
                yield from top.walk()

    def phase(self, name: PhaseName) -> Phase[S]:
        return next(phase for phase in self.phases if phase.name is name)

    def phase_of(self, step_id: str) -> Phase[S]:
        return next(p for p in self.phases if any(s.id == step_id for top in p.steps for s in top.walk()))

    def next_phase(self, name: PhaseName) -> Phase[S] | None:
        names = [phase.name for phase in self.phases]
        index = names.index(name) + 1
        return self.phases[index] if index < len(names) else None

    def previous_phase(self, name: PhaseName) -> Phase[S]:
        names = [phase.name for phase in self.phases]
        return self.phases[max(0, names.index(name) - 1)]


def window_values(step: StepBase, now: datetime) -> dict[str, datetime]:
    """`since` and `until` for a step with a time window: explicit UTC bounds, never LAST_N_HOURS."""
    if step.window_hours is None:
        return {}
    until = now.astimezone(UTC).replace(microsecond=0)
    return {"since": until - timedelta(hours=step.window_hours), "until": until}


def parse_parameter(parameter: Parameter, text: str) -> str | int:
    """A value a responder typed for a parameter; ValueError with a sentence for the form when it is wrong."""
    value = text.strip()
    if not value:
        raise ValueError(f"Give the {parameter.label}.")
    if parameter.type is ParameterType.SALESFORCE_USER_ID:
        return parse_id(value, prefix=USER_PREFIX)
    if parameter.type is ParameterType.SALESFORCE_ID:
        return parse_id(value)
    if parameter.type is ParameterType.INTEGER:
        if not re.fullmatch(r"-?\d{1,9}", value):
            raise ValueError(f"The {parameter.label} is a whole number.")
        return int(value)
    if len(value) > 255:
        raise ValueError(f"Keep the {parameter.label} to 255 characters.")
    return value
