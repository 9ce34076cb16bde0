"""The audit trail of an incident: every request, decision, refusal, execution, verification and revert, as
append-only, sealed entries under a signed head; and the check that finds what was removed, edited, inserted or
reordered since."""

from __future__ import annotations

from typing import Any

from bot.adapters.redis_store.approvals import ApprovalStore
from bot.adapters.redis_store.audit import AuditStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.core.approval import ApprovalRequest
from bot.core.audit import AuditEntry, AuditHead, AuditKind, Trail, problems
from bot.core.clock import Clock
from bot.services.errors import incident_or_refuse


class AuditService:
    def __init__(self, store: AuditStore, approvals: ApprovalStore, incidents: IncidentStore, clock: Clock) -> None:
        self.store = store
        self.approvals = approvals
        self.incidents = incidents
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
        return self.store.entries(incident)

    def head(self, incident: int) -> AuditHead:
        return self.store.head(incident)

    def check(self, incident: int, expected: AuditHead | None = None) -> tuple[Trail, list[str]]:
        """The trail and what is wrong with it (nothing when intact); UserError when there is no such incident."""
        incident_or_refuse(self.incidents.get(incident), incident, open_only=False)
        trail = Trail(
            incident=incident,
            entries=self.store.entries(incident),
            head=self.store.signed_head(incident),
            requests=set(self.approvals.of_incident(incident)),
            expected=expected,
        )
        return trail, problems(trail, self.store.seal)
