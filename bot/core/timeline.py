"""The incident timeline: what happened, when, by whom, and where to read more."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class EntryKind(StrEnum):
    DECLARED = "declared"
    PLAYBOOK = "playbook"
    STEP = "step"
    QUERY = "query"
    EVIDENCE = "evidence"
    SWITCH = "switch"
    SEVERITY = "severity"
    STATUS = "status"
    ROLE = "role"
    MILESTONE = "milestone"
    UPDATE = "update"
    NOTE = "note"
    MESSAGE = "message"
    PAGE = "page"
    ACTION = "action"  # an action item exported to a tracker, or changed there


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    at: datetime
    kind: EntryKind
    text: str
    actor: str | None = None
    permalink: str | None = None
    source: str | None = None  # identifies a captured Slack message, so an edit or delete can find it
