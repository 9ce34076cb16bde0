"""The audit trail of an incident: every request, decision, refusal, execution, verification and revert, as
append-only, hash-chained entries."""

from __future__ import annotations

from typing import Any

from bot.adapters.redis_store.audit import AuditStore
from bot.core.approval import ApprovalRequest
from bot.core.audit import AuditEntry, AuditKind
from bot.core.clock import Clock


class AuditService:
    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def record(
        self,
        request: ApprovalRequest,
        kind: AuditKind,
        actor: str | None,
        summary: str,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            at=self.clock.now(), kind=kind, actor=actor, request=request.id, summary=summary, details=details or {}
        )
        return self.store.append(request.incident, entry)

    def entries(self, incident: int) -> list[AuditEntry]:
        return [entry for _, entry in self.store.entries(incident)]
