"""The audit trail: append-only entries, each carrying the hash of the one before, so an edit shows."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

GENESIS = "0" * 64


class AuditKind(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    REFUSED = "refused"
    EXPIRED = "expired"
    EXECUTION_STARTED = "execution started"
    EXECUTED = "executed"
    DRY_RUN = "dry run"
    FAILED = "failed"
    UNKNOWN = "outcome unknown"
    GUIDED = "waiting for a person"
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    REVERT_REQUESTED = "revert requested"
    CANCELLED = "cancelled"


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    at: datetime
    kind: AuditKind
    actor: str | None
    request: str
    summary: str
    details: dict[str, Any] = {}
    previous: str = GENESIS
    hash: str = ""

    def sealed(self, previous: str) -> AuditEntry:
        body = self.model_copy(update={"previous": previous, "hash": ""})
        return body.model_copy(update={"hash": entry_hash(body)})


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 of the entry's canonical JSON (its own hash left out), which includes the previous hash."""
    content = entry.model_dump(mode="json", exclude={"hash"})
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def first_broken(entries: list[AuditEntry]) -> tuple[int, str] | None:
    """The position (1-based) of the first entry that was changed, removed or reordered, and why; None if intact."""
    previous = GENESIS
    for position, entry in enumerate(entries, 1):
        if entry.previous != previous:
            return position, "it does not follow the entry before it (one was removed, inserted or reordered)"
        if entry_hash(entry) != entry.hash:
            return position, "its content does not match its hash (it was edited)"
        previous = entry.hash
    return None
