"""What the walkthrough's use cases return: a step changed, a playbook started, a run asked for or finished, or
what the person is told because nothing changed. The walkthrough presenter shows each in Slack."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

from bot.core.incident import Incident
from bot.core.playbook import PhaseName, Playbook, StepBase
from bot.core.walkthrough import StepResult, StepState
from bot.kinds import Step
from bot.kinds.base import ApprovalNeed, Shown


@dataclass(frozen=True)
class StepChanged:
    incident: Incident
    scope: str
    step: StepBase
    completed_phase: PhaseName | None = None  # a playbook phase this change settled: its next one is due


@dataclass(frozen=True)
class Told:
    """Nothing changed; the person is told why (a playbook already running, a phase already posted)."""

    message: str


@dataclass(frozen=True)
class AlreadySettled:
    """Nothing changed: someone else got there first (a repeat, a lost race); the person is told who, when."""

    step: StepBase
    current: StepState


@dataclass(frozen=True)
class PlaybookStarted:
    incident: Incident
    playbook: Playbook[Step]
    raise_to_sev1: bool  # it suspects exfiltration, which the matrix calls SEV-1
    suggest_private: bool  # and the investigation of a suspect belongs in a private incident


@dataclass(frozen=True)
class AskParameters:
    """The step needs values, or is a change that asks once with exactly what will run."""

    incident: Incident
    scope: str
    step: StepBase
    preview: str | None
    remembered: dict[str, str]


@dataclass(frozen=True)
class AskApproval:
    incident: Incident
    scope: str
    step: StepBase
    need: ApprovalNeed


@dataclass(frozen=True)
class RunStarted:
    change: StepChanged
    values: dict[str, object]
    actor: str | None
    fetched: Future[StepResult]


@dataclass(frozen=True)
class RunFinished:
    change: StepChanged | AlreadySettled
    shown: Shown | None  # the result's message, when the run succeeded and its kind shows one


@dataclass(frozen=True)
class EarlyRun:
    """A step run on declare whose fetch started before the channel existed."""

    scope: str
    step: StepBase
    values: dict[str, object]
    fetched: Future[StepResult]
