"""The runbook as data: checklists, playbooks, steps, kill switches, and the rules that keep them sound.

Operators edit YAML in `playbooks/`; these models refuse anything the bot could not run safely: unknown
keys, duplicate step ids, references to switches that do not exist, placeholders without a parameter, and
destructive work that would not go through two-person approval.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from string import Formatter
from typing import Annotated, Final, Literal

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from bot.core.salesforce_id import USER_PREFIX, parse_id

StepId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Risk(StrEnum):
    READ = "read"
    CHANGE = "change"
    DESTRUCTIVE = "destructive"


class StepKind(StrEnum):
    CHECK = "check"
    QUERY = "query"
    APEX = "apex"
    PUBLISH = "publish"
    KILL_SWITCH = "kill_switch"
    DECISION = "decision"
    LINK = "link"
    VENDOR_STATUS = "vendor_status"


class PhaseName(StrEnum):
    DISCOVERY = "discovery"
    CONTAIN = "contain"
    DIAGNOSE = "diagnose"
    RECOVER = "recover"
    POSTMORTEM = "post-mortem"


PHASE_ORDER = list(PhaseName)


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


WINDOW_PLACEHOLDERS = frozenset({"since", "until"})


class TextFilter(Strict):
    """Filters rows in Python: long text areas cannot be filtered in SOQL's WHERE."""

    field: str
    contains: str


class Presentation(StrEnum):
    TABLE = "table"
    ERROR_RATE_CHART = "error_rate_chart"


class Choice(Strict):
    id: StepId
    label: Annotated[str, StringConstraints(max_length=75)]
    steps: tuple[Step, ...] = ()


class Step(Strict):
    id: StepId
    title: Annotated[str, StringConstraints(min_length=1, max_length=150)]
    detail: str = ""
    risk: Risk = Risk.READ
    kind: StepKind
    # query: SOQL built with simple_salesforce.format_soql; {since} and {until} bound the time window
    soql: str | None = None
    api: Literal["rest", "tooling"] = "rest"
    window_hours: int | None = Field(default=None, ge=1, le=24 * 30)
    text_filter: TextFilter | None = None
    row_limit: int = Field(default=200, ge=1, le=2000)
    present: Presentation = Presentation.TABLE
    # apex: a jinja2 template; values go through the apex_string / apex_datetime filters
    apex: str | None = None
    # publish: a platform event created through the REST API
    sobject: str | None = None
    fields: dict[str, str] | None = None
    # kill_switch: a key of the catalogue, or none to open the whole panel
    switch: Key | None = None
    # decision
    choices: tuple[Choice, ...] = ()
    # link: the name of the setting that holds the URL
    url_setting: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*_url$")] | None = None
    parameters: tuple[Parameter, ...] = ()
    # run by the bot right after the declare, when it can: always, or only for LLM / provider related incidents
    run_on_declare: Literal["never", "always", "llm_related"] = "never"

    @model_validator(mode="after")
    def _kind_fields(self) -> Step:
        required = {
            StepKind.QUERY: ("soql",),
            StepKind.APEX: ("apex",),
            StepKind.PUBLISH: ("sobject", "fields"),
            StepKind.DECISION: ("choices",),
            StepKind.LINK: ("url_setting",),
        }.get(self.kind, ())
        for name in required:
            if not getattr(self, name):
                raise ValueError(f"a {self.kind.value} step needs `{name}`")
        owned = {
            "soql": StepKind.QUERY,
            "apex": StepKind.APEX,
            "sobject": StepKind.PUBLISH,
            "switch": StepKind.KILL_SWITCH,
            "choices": StepKind.DECISION,
            "url_setting": StepKind.LINK,
        }
        for name, kind in owned.items():
            if getattr(self, name) and self.kind is not kind:
                raise ValueError(f"`{name}` belongs to {kind.value} steps, not {self.kind.value}")
        self._check_destructive()
        self._check_placeholders()
        return self

    def _check_destructive(self) -> None:
        if self.kind is StepKind.KILL_SWITCH and self.switch and self.risk is not Risk.DESTRUCTIVE:
            raise ValueError("a kill switch always goes through two-person approval: set risk: destructive")
        if self.risk is Risk.DESTRUCTIVE and self.kind not in (StepKind.APEX, StepKind.KILL_SWITCH):
            raise ValueError(
                f"a destructive {self.kind.value} step is outside the approval path: only apex and kill_switch "
                "steps run behind two-person approval"
            )
        if self.kind is StepKind.KILL_SWITCH and not self.switch and self.risk is not Risk.READ:
            raise ValueError("the kill-switch panel only shows switches: its risk is read")

    def _check_placeholders(self) -> None:
        names = {parameter.name for parameter in self.parameters}
        if len(names) != len(self.parameters):
            raise ValueError("parameter names must be unique")
        if self.soql:
            used = soql_placeholders(self.soql)
            available = names | (WINDOW_PLACEHOLDERS if self.window_hours else set())
            missing = used - available
            if missing:
                hint = " (set window_hours for {since}/{until})" if missing & WINDOW_PLACEHOLDERS else ""
                raise ValueError(f"soql uses {sorted(missing)} but no such parameter is defined{hint}")
            if re.search(r"LAST_N_HOURS", self.soql, re.IGNORECASE):
                raise ValueError("LAST_N_HOURS is not a SOQL date literal: bound the window with {since}")
        if self.apex:
            used = set(re.findall(r"{{\s*([a-z_][a-z0-9_]*)", self.apex))
            missing = used - names - (WINDOW_PLACEHOLDERS if self.window_hours else set())
            if missing:
                raise ValueError(f"apex uses {sorted(missing)} but no such parameter is defined")

    def walk(self) -> Iterator[Step]:
        """This step and every step under its choices, depth first."""
        yield self
        for choice in self.choices:
            for step in choice.steps:
                yield from step.walk()


Choice.model_rebuild()


def soql_placeholders(soql: str) -> set[str]:
    return {name.split(".")[0] for _, name, _, _ in Formatter().parse(soql) if name}


class Phase(Strict):
    name: PhaseName
    steps: tuple[Step, ...] = Field(min_length=1)


def _unique_ids(located: Iterator[tuple[str, Step]]) -> None:
    seen: dict[str, str] = {}
    for path, step in located:
        if step.id in seen:
            raise ValueError(f"step id `{step.id}` is used twice: at {seen[step.id]} and at {path}")
        seen[step.id] = path


FIRST_FIVE: Final = "first-five"


class Checklist(Strict):
    """The universal first five minutes: one list of steps, posted right after the header."""

    key: Literal["first-five"] = FIRST_FIVE
    title: str
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> Checklist:
        _unique_ids(located_steps(self.steps, "steps"))
        return self

    def all_steps(self) -> Iterator[Step]:
        for top in self.steps:
            yield from top.walk()


Signal = Literal["llm_related", "exfiltration_suspected"]


class Playbook(Strict):
    key: Key
    number: int = Field(ge=1)
    title: str
    symptoms: tuple[str, ...] = ()
    suggested_when: tuple[Signal, ...] = ()
    phases: tuple[Phase, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _order_and_ids(self) -> Playbook:
        names = [phase.name for phase in self.phases]
        if names != sorted(names, key=PHASE_ORDER.index) or len(set(names)) != len(names):
            raise ValueError(f"phases must follow {' → '.join(p.value for p in PHASE_ORDER)}, each once")
        _unique_ids(
            located
            for i, phase in enumerate(self.phases)
            for located in located_steps(phase.steps, f"phases[{i}].steps")
        )
        return self

    def all_steps(self) -> Iterator[Step]:
        for phase in self.phases:
            for top in phase.steps:
                yield from top.walk()

    def phase(self, name: PhaseName) -> Phase:
        return next(phase for phase in self.phases if phase.name is name)

    def next_phase(self, name: PhaseName) -> Phase | None:
        names = [phase.name for phase in self.phases]
        index = names.index(name) + 1
        return self.phases[index] if index < len(names) else None


class FmConfigChange(Strict):
    """Sets an FM_Config custom metadata field through the Metadata API, then FMConfig.refresh()."""

    type: Literal["fm_config"]
    field: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")]
    value: str


class ProviderSwitch(Strict):
    """Turns one provider off through its per-provider FM_Config field, which the router reads."""

    type: Literal["provider_setting"]
    provider_fields: dict[str, Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")]]
    value: str = "false"


class PermissionSetRevocation(Strict):
    """Deletes a user's assignments of the named permission sets (never profile-owned ones)."""

    type: Literal["revoke_permission_sets"]
    permission_sets: tuple[str, ...] = Field(min_length=1)


class CronAbort(Strict):
    """Aborts a scheduled Apex job by its CronJobDetail name."""

    type: Literal["abort_cron"]
    job_name: str


Mechanism = Annotated[
    FmConfigChange | ProviderSwitch | PermissionSetRevocation | CronAbort, Field(discriminator="type")
]


class KillSwitch(Strict):
    key: Key
    title: str
    effect: str
    mechanism: Mechanism


class KillSwitchCatalogue(Strict):
    """The runbook's kill switches, in its priority order (the order of this list)."""

    switches: tuple[KillSwitch, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> KillSwitchCatalogue:
        keys = [switch.key for switch in self.switches]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            raise ValueError(f"switch keys used twice: {sorted(duplicates)}")
        return self

    def get(self, key: str) -> KillSwitch | None:
        return next((switch for switch in self.switches if switch.key == key), None)


def located_steps(steps: tuple[Step, ...], path: str) -> Iterator[tuple[str, Step]]:
    """Each step with its path inside the YAML document (for error messages), depth first."""
    for index, step in enumerate(steps):
        here = f"{path}[{index}]"
        yield here, step
        for choice_index, choice in enumerate(step.choices):
            yield from located_steps(choice.steps, f"{here}.choices[{choice_index}].steps")


def window_values(step: Step, now: datetime) -> dict[str, datetime]:
    """`since` and `until` for a step with a time window: explicit UTC bounds, never LAST_N_HOURS."""
    if step.window_hours is None:
        return {}
    until = now.astimezone(UTC).replace(microsecond=0)
    return {"since": until - timedelta(hours=step.window_hours), "until": until}


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


def render_apex(step: Step, values: dict[str, object]) -> str:
    """The step's anonymous Apex with its values quoted for Apex; a missing value is an error, never blank."""
    assert step.apex is not None
    return _APEX.from_string(step.apex).render(**values)


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
