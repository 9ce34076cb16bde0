"""The audit trail of an incident: every request, decision, refusal, execution, verification and revert, as
append-only, sealed entries under a signed head, each witnessed in one global chain; and the checks that find
what was removed, edited, inserted or reordered since, in one incident or in every incident ever declared."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.adapters.redis_store.approvals import ApprovalStore
from bot.adapters.redis_store.audit import AuditStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.core.approval import ApprovalRequest
from bot.core.audit import (
    WITNESS,
    Audit,
    AuditEntry,
    AuditHead,
    AuditKind,
    Trail,
    problems,
    witness_problems,
    witnessed,
)
from bot.core.clock import Clock
from bot.core.events import Event
from bot.services.errors import incident_or_refuse


@dataclass(frozen=True)
class AllChecked:
    """`audit verify --all`: the witness chain's problems, then each incident's (only those with any)."""

    witness: list[str]
    incidents: dict[int, list[str]]
    checked: int  # incidents checked
    entries: int  # audit entries in all of them


class AuditService:
    def __init__(self, store: AuditStore, approvals: ApprovalStore, incidents: IncidentStore, clock: Clock) -> None:
        self.store = store
        self.approvals = approvals
        self.incidents = incidents
        self.clock = clock

    def entry(
        self,
        request: ApprovalRequest,
        kind: AuditKind,
        actor: str | None,
        summary: str,
        details: dict[str, Any] | None = None,
        event: Event | None = None,
    ) -> Audit:
        """An entry about `request`, to be written with the change it records (and the event that tells the
        subscribers, if any)."""
        audit = self.about(request.incident, request.id, kind, actor, summary, details, private=request.private)
        return replace(audit, event=event)

    def about(
        self,
        incident: int,
        subject: str,
        kind: AuditKind,
        actor: str | None,
        summary: str,
        details: dict[str, Any] | None = None,
        *,
        private: bool,
    ) -> Audit:
        """An entry about `subject` (a request's id, or `step:<scope>/<id>` for a person's word on a step)."""
        entry = AuditEntry(
            at=self.clock.now(), kind=kind, actor=actor, request=subject, summary=summary, details=details or {}
        )
        return Audit(incident, entry, private)

    def record(self, audit: Audit) -> AuditEntry:
        """Writes an entry that records no change of its own (a refusal, a person's word)."""
        return self.store.append(audit)

    def entries(self, incident: int) -> list[AuditEntry]:
        return self.store.entries(incident)

    def head(self, incident: int) -> AuditHead:
        return self.store.head(incident)

    def check(self, incident: int, expected: AuditHead | None = None) -> tuple[Trail, list[str]]:
        """The trail and what is wrong with it (nothing when intact); UserError when there is no such incident."""
        incident_or_refuse(self.incidents.get(incident), incident, open_only=False)
        trail = self._trail(incident, expected)
        return trail, problems(trail, self.store.seal)

    def check_all(self) -> AllChecked:
        """Every incident ever declared, and every one the witness saw, against the witness chain."""
        witness = self.store.witness()
        witness_trail = Trail(WITNESS, witness, self.store.witness_head(), set())
        seen = witnessed(witness)
        numbers = sorted(set(range(1, self.incidents.last_number() + 1)) | set(seen))
        found: dict[int, list[str]] = {}
        entries = 0
        for number in numbers:
            trail = self._trail(number, None)
            entries += len(trail.entries)
            wrong = witness_problems(trail, seen.get(number), self.store.seal)
            if self.incidents.get(number) is None and number in seen:
                wrong.insert(0, "the incident is gone, but the witness saw its audit trail")
            if wrong:
                found[number] = wrong
        return AllChecked(problems(witness_trail, self.store.seal), found, len(numbers), entries)

    def adopt(self) -> tuple[list[int], dict[int, list[str]]]:
        """Upgrading from before the witness: each incident whose trail the witness never saw, and which is intact
        on its own, is witnessed as it stands. Returns those witnessed, and those left out with why."""
        seen = witnessed(self.store.witness())
        adopted, refused = [], {}
        for number in range(1, self.incidents.last_number() + 1):
            trail = self._trail(number, None)
            if number in seen or not trail.entries:
                continue
            wrong = problems(trail, self.store.seal)
            if wrong:
                refused[number] = wrong
                continue
            self.store.adopt(number, self.clock.now())
            adopted.append(number)
        return adopted, refused

    def _trail(self, incident: int, expected: AuditHead | None) -> Trail:
        return Trail(
            incident=incident,
            entries=self.store.entries(incident),
            head=self.store.signed_head(incident),
            requests=set(self.approvals.of_incident(incident)),
            expected=expected,
        )
