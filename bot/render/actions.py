"""The one codec for buttons and menus: action ids and the typed values they carry.

The renderer builds every interactive element with `element_action` / `encode`, and the handlers read them back
with `action_of` / `decode`: a value that does not parse as the action's type is a stale or forged button,
refused before any use case runs. An action id may carry a suffix after `:` to stay unique within its block
(`step.choose:one-user`); the suffix is never trusted, the value says what was clicked.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot.core.playbook import Key, PhaseName, StepId

Scope = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


class StaleButton(ValueError):
    """A click whose action or value is not one the bot renders (an old message, or a forged payload)."""


class ActionId(StrEnum):
    STEP_DONE = "step.done"
    STEP_NOT_APPLICABLE = "step.na"
    STEP_SKIP = "step.skip"
    STEP_RUN = "step.run"
    STEP_CHOOSE = "step.choose"
    STEP_LINK = "step.link"
    STEP_CHECKED = "step.checked"
    PLAYBOOK_PICK = "playbook.pick"
    PHASE_NEXT = "phase.next"
    INCIDENT_ACK = "incident.ack"
    INCIDENT_SEVERITY = "incident.severity"
    SEVERITY_ANSWER = "severity.answer"
    INCIDENT_DECLARE_PRIVATE = "incident.declare_private"
    TIMELINE_PAGE = "timeline.page"
    SWITCH_OPEN = "switch.open"
    SWITCH_APPROVE = "switch.approve"
    SWITCH_DENY = "switch.deny"
    SWITCH_REVERT = "switch.revert"
    ACTIONS_EXPORT = "actions.export"


class Ref(BaseModel):
    """What every value names: the incident the element belongs to."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    incident: int = Field(ge=1, le=10**9)


class StepRef(Ref):
    scope: Scope
    step: StepId


class ChoiceRef(StepRef):
    choice: StepId


class PlaybookRef(Ref):
    playbook: Key


class PhaseRef(PlaybookRef):
    phase: PhaseName


class SeverityRef(Ref):
    severity: int = Field(ge=1, le=4)


class SuggestionRef(Ref):
    """An answer to the bot's severity suggestion: take the measured severity, or keep the declared one. `declared`
    is the severity the suggestion was about: once the incident's differs, the suggestion is stale."""

    suggested: int = Field(ge=1, le=4)
    declared: int = Field(ge=1, le=4)
    keep: bool


class PageRef(Ref):
    page: int = Field(ge=1, le=9999)


class SwitchRef(Ref):
    switch: Key


class RequestRef(Ref):
    request: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{10}$")]


VALUE_TYPES: dict[ActionId, type[Ref]] = {
    ActionId.STEP_DONE: StepRef,
    ActionId.STEP_NOT_APPLICABLE: StepRef,
    ActionId.STEP_SKIP: StepRef,
    ActionId.STEP_RUN: StepRef,
    ActionId.STEP_CHOOSE: ChoiceRef,
    ActionId.STEP_LINK: StepRef,
    ActionId.STEP_CHECKED: StepRef,
    ActionId.PLAYBOOK_PICK: PlaybookRef,
    ActionId.PHASE_NEXT: PhaseRef,
    ActionId.INCIDENT_ACK: Ref,
    ActionId.INCIDENT_SEVERITY: SeverityRef,
    ActionId.SEVERITY_ANSWER: SuggestionRef,
    ActionId.INCIDENT_DECLARE_PRIVATE: Ref,
    ActionId.TIMELINE_PAGE: PageRef,
    ActionId.SWITCH_OPEN: SwitchRef,
    ActionId.SWITCH_APPROVE: RequestRef,
    ActionId.SWITCH_DENY: RequestRef,
    ActionId.SWITCH_REVERT: RequestRef,
    ActionId.ACTIONS_EXPORT: Ref,
}
_ACTION = re.compile(r"^([a-z_]+\.[a-z_]+)(?::[a-z0-9-]{1,40})?$")
V = TypeVar("V", bound=Ref)


def element_action(action: ActionId, suffix: str = "") -> str:
    """The action_id of an element: the action, and a suffix where a block holds several of it."""
    return f"{action.value}:{suffix}" if suffix else action.value


def action_pattern(action: ActionId) -> re.Pattern[str]:
    """What a listener matches: the action with or without a suffix."""
    return re.compile(rf"^{re.escape(action.value)}(:[a-z0-9-]{{1,40}})?$")


def encode(action: ActionId, value: Ref) -> str:
    if not isinstance(value, VALUE_TYPES[action]):
        raise TypeError(f"{action.value} carries a {VALUE_TYPES[action].__name__}, not a {type(value).__name__}")
    return value.model_dump_json()


def action_of(action_id: str) -> ActionId:
    match = _ACTION.fullmatch(action_id or "")
    try:
        return ActionId(match.group(1) if match else "")
    except ValueError:
        raise StaleButton(action_id) from None


def decode(action: ActionId, raw: str, expected: type[V]) -> V:
    """The value of a click on `action`, as the type the caller expects; StaleButton for anything else."""
    value_type = VALUE_TYPES[action]
    if not issubclass(value_type, expected):
        raise TypeError(f"{action.value} carries a {value_type.__name__}")
    try:
        value = value_type.model_validate_json(raw or "")
    except ValidationError:
        raise StaleButton(raw) from None
    assert isinstance(value, expected)
    return value
