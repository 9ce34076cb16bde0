"""The playbook engine: the state of each step, which transitions are allowed, what is visible and complete."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.core.playbook import Risk, StepBase, window_values


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "n/a"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a change sent without an answer: it may or may not have run

    @property
    def settled(self) -> bool:
        """Nothing more to do on the step."""
        return self in (StepStatus.DONE, StepStatus.SKIPPED, StepStatus.NOT_APPLICABLE)


class StepAction(StrEnum):
    DONE = "done"
    SKIP = "skip"
    NOT_APPLICABLE = "n/a"
    CHOOSE = "choose"
    START = "start"
    SUCCEED = "succeed"
    FAIL = "fail"
    NO_ANSWER = "no answer"
    CHECKED = "checked"  # a person checked the org: a change without an answer did not run, so it may run again


# Each action: the statuses it may start from, and the status it leads to. A change whose outcome is unknown is
# never run again on a click: a person says it ran (Done) or checked that it did not (CHECKED, audited).
TRANSITIONS: dict[StepAction, tuple[frozenset[StepStatus], StepStatus]] = {
    StepAction.DONE: (frozenset({StepStatus.PENDING, StepStatus.FAILED, StepStatus.UNKNOWN}), StepStatus.DONE),
    StepAction.SKIP: (frozenset({StepStatus.PENDING, StepStatus.FAILED}), StepStatus.SKIPPED),
    StepAction.NOT_APPLICABLE: (frozenset({StepStatus.PENDING, StepStatus.FAILED}), StepStatus.NOT_APPLICABLE),
    StepAction.CHOOSE: (frozenset({StepStatus.PENDING}), StepStatus.DONE),
    StepAction.START: (frozenset({StepStatus.PENDING, StepStatus.FAILED}), StepStatus.RUNNING),
    StepAction.SUCCEED: (frozenset({StepStatus.RUNNING}), StepStatus.DONE),
    StepAction.FAIL: (frozenset({StepStatus.RUNNING, StepStatus.PENDING}), StepStatus.FAILED),
    StepAction.NO_ANSWER: (frozenset({StepStatus.RUNNING}), StepStatus.UNKNOWN),
    StepAction.CHECKED: (frozenset({StepStatus.UNKNOWN}), StepStatus.PENDING),
}


class StepState(BaseModel):
    model_config = ConfigDict(frozen=True)
    status: StepStatus = StepStatus.PENDING
    by: str | None = None
    at: datetime | None = None
    reason: str = ""
    choice: str | None = None
    result: str = ""
    error: str = ""


PENDING = StepState()


# Rows read at most, newest first, for a filter the bot applies itself (a long text area, values new to a user);
# what the org matched beyond them is counted as unread and said, never taken as clear.
SCAN_LIMIT = 10_000


class StepResult(BaseModel):
    """What a step's run returned, kept with the incident (the post-mortem reads the snapshot from it).

    `rows` are the first rows shown in the channel; `fetched` counts the rows fetched for the CSV (all of
    them up to the export limit) and `total` what the org says matched (after a filter of the bot's, what it kept
    of the rows it read; `unread` the rows it did not read).
    """

    model_config = ConfigDict(frozen=True)
    at: datetime
    statement: str
    rows: list[dict[str, Any]]
    total: int
    fetched: int = 0
    unread: int = 0  # rows the org matched beyond the bot's read ceiling, for a filter of its own
    counted: str = ""  # what the rows count when an operator's setting decides it (a pattern), or that it is unset
    dry_run: bool = False

    @property
    def unread_said(self) -> str:
        return (
            f"the bot filtered the newest {SCAN_LIMIT:,} rows the org matched (its read ceiling); "
            f"{self.unread:,} older ones were not read"
        )


def state_key(scope: str, step_id: str) -> str:
    return f"{scope}/{step_id}"


def after(
    action: StepAction,
    actor: str | None,
    at: datetime,
    *,
    reason: str = "",
    choice: str | None = None,
    result: str = "",
    error: str = "",
) -> StepState:
    """The state a step reaches by `action`."""
    _, status = TRANSITIONS[action]
    return StepState(status=status, by=actor, at=at, reason=reason, choice=choice, result=result, error=error)


def allowed_from(action: StepAction) -> frozenset[StepStatus]:
    return TRANSITIONS[action][0]


def run_allowed_from(step: StepBase) -> frozenset[StepStatus]:
    """A read runs again once done (its numbers are a moment's); other work runs from pending or failed only."""
    start = allowed_from(StepAction.START)
    return start | {StepStatus.DONE} if step.risk is Risk.READ else start


def visible(steps: tuple[StepBase, ...], scope: str, states: dict[str, StepState]) -> Iterator[tuple[int, StepBase]]:
    """The steps a responder sees, with their depth: a decision reveals only the branch that was chosen."""
    for step in steps:
        yield 0, step
        chosen = states.get(state_key(scope, step.id), PENDING).choice
        for branch in step.branches():
            if branch.id == chosen:
                for depth, inner in visible(branch.steps, scope, states):
                    yield depth + 1, inner


def complete(steps: tuple[StepBase, ...], scope: str, states: dict[str, StepState]) -> bool:
    return all(
        states.get(state_key(scope, step.id), PENDING).status.settled for _, step in visible(steps, scope, states)
    )


@dataclass(frozen=True)
class Preconditions:
    """What a step waits on before it may run: a switch it must not run under, a step that counts its work."""

    reference: str  # the incident's reference, INC-n
    drill: bool  # a drill's run is a dry run: nothing is touched, so nothing waits
    held_by: tuple[str, tuple[str, ...]] | None = None  # the switch in effect and what it holds, if any
    counter: StepBase | None = None
    counted: StepResult | None = None

    def refusal(self, step: StepBase) -> str | None:
        if self.drill:
            return None
        if self.held_by is not None:
            switch, targets = self.held_by
            on = f" on {', '.join(targets)}" if targets else ""
            return (
                f"“{switch}”{on} is in effect in {self.reference}: “{step.title}” now would send work where it was "
                "switched off. Revert the switch from its request card when that is safe, then run this."
            )
        if self.counter is not None and self.counted is None:
            return f"Run “{self.counter.title}” first: it counts what “{step.title}” will touch."
        return None

    def note(self) -> str:
        """The count to show in the step's confirmation ("" when it names none)."""
        if self.counter is None or self.counted is None:
            return ""
        window = window_values(self.counter, self.counted.at)
        between = f" between {window['since']:%H:%M} and {window['until']:%H:%M} UTC" if window else ""
        return (
            f"It will touch what “{self.counter.title}” counted{between}: {self.counted.total}, counted at "
            f"{self.counted.at:%H:%M} UTC. It runs over that same window (count again first for a later one)."
        )
