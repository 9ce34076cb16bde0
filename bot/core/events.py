"""What happened to an incident, as typed domain events: the use cases publish them, and every subscriber other
than Slack (the pager, a tracker, the structured log) receives them from the outbox, each on its own.

An event names the incident and carries facts, never people's words (a title, a reason): a subscriber that needs
more reads it, and decides what a private incident may show. Each has an id, so a subscriber receives it once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.core.severity import Severity


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    incident: int
    at: datetime
    actor: str | None = None  # who did it; None for the bot


class Declared(EventBase):
    kind: Literal["declared"] = "declared"
    severity: Severity
    drill: bool
    private: bool


class SeverityChanged(EventBase):
    kind: Literal["severity changed"] = "severity changed"
    before: Severity
    after: Severity


class TargetMissed(EventBase):
    """The response target passed unacknowledged; `level` is the escalation step it reached (1, then 2)."""

    kind: Literal["target missed"] = "target missed"
    level: int


class Acknowledged(EventBase):
    kind: Literal["acknowledged"] = "acknowledged"


class Mitigated(EventBase):
    kind: Literal["mitigated"] = "mitigated"


class Resolved(EventBase):
    kind: Literal["resolved"] = "resolved"


SwitchChange = Literal["executed", "verified", "not verified", "reverted"]


class SwitchChanged(EventBase):
    """A kill switch's execution moved: executed (the org took it), verified (read back), reverted (its revert was
    read back), or not verified."""

    kind: Literal["switch changed"] = "switch changed"
    request: str
    change: SwitchChange


class ActionItemAdded(EventBase):
    kind: Literal["action item added"] = "action item added"
    item: int  # its place in the incident's list, from 0


class ActionItemChanged(EventBase):
    """An item's issue changed in a tracker (closed, reopened, reassigned, rescheduled there)."""

    kind: Literal["action item changed"] = "action item changed"
    item: int
    tracker: str
    done: bool


class ExportRequested(EventBase):
    """Someone asked to export the incident's action items now (`/incident actions export`, the button)."""

    kind: Literal["export requested"] = "export requested"


class PostmortemPublished(EventBase):
    kind: Literal["post-mortem published"] = "post-mortem published"


class PageRequested(EventBase):
    """Someone asked to page the on-call now (`/incident page`); the reason is the timeline's."""

    kind: Literal["page requested"] = "page requested"


Event = Annotated[
    Declared
    | SeverityChanged
    | TargetMissed
    | Acknowledged
    | Mitigated
    | Resolved
    | SwitchChanged
    | ActionItemAdded
    | ActionItemChanged
    | ExportRequested
    | PostmortemPublished
    | PageRequested,
    Field(discriminator="kind"),
]
EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(text: str) -> Event:
    return EVENT.validate_json(text)
