"""What the walkthrough's use cases return: a step changed, a playbook started, a phase due, a run asked for or
finished, or what the person is told because nothing changed; and the walkthrough as it stands, which its
messages show. The walkthrough presenter shows each in Slack."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from bot.adapters.redis_store.walkthrough import Snapshot
from bot.core.incident import Incident
from bot.core.playbook import PhaseName, Playbook, StepBase
from bot.core.walkthrough import StepResult, StepState
from bot.kinds import Step, kind_of
from bot.kinds.base import ApprovalNeed, Capabilities, Shown, StepDisplay
from bot.runbook import Runbook


@dataclass(frozen=True)
class StepChanged:
    incident: Incident
    scope: str
    step: StepBase
    phase: PhaseName | None = None  # the playbook phase the step is in (None in the first five minutes)
    following: PhaseName | None = None  # the phase due now: this change completed the step's phase, and one follows


@dataclass(frozen=True)
class PhaseDue:
    """**Next phase** asked for: the phase to post in `key`'s playbook, and the one before it (its Next button goes)."""

    incident: Incident
    key: str
    phase: PhaseName
    previous: PhaseName


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


@dataclass(frozen=True)
class WalkthroughView:
    """The incident's walkthrough as it stands: its steps' states and posted messages (one snapshot), the runbook
    it follows, and how each step displays now (its label, its instruction rendered, the buttons it gets)."""

    incident: Incident
    snapshot: Snapshot
    runbook: Runbook
    capabilities: Capabilities
    values: Callable[[StepBase], dict[str, object]]

    def display(self, step: StepBase) -> StepDisplay:
        return kind_of(step).display(step, self.capabilities, self.values(step))
