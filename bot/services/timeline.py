"""Recording what happens during an incident, as it happens."""

from __future__ import annotations

from datetime import datetime

from bot.adapters.redis_store import AuditStore, TimelineStore
from bot.core.audit import AuditKind
from bot.core.clock import Clock
from bot.core.timeline import EntryKind, TimelineEntry

# Audit entries that belong on the timeline (refusals and execution starts stay in the audit trail only).
AUDIT_ON_TIMELINE = frozenset(AuditKind) - {AuditKind.REFUSED, AuditKind.EXECUTION_STARTED}


class TimelineService:
    def __init__(self, store: TimelineStore, audit: AuditStore, clock: Clock) -> None:
        self.store = store
        self.audit = audit
        self.clock = clock

    def record(
        self,
        number: int,
        kind: EntryKind,
        text: str,
        actor: str | None = None,
        at: datetime | None = None,
        permalink: str | None = None,
    ) -> None:
        entry = TimelineEntry(at=at or self.clock.now(), kind=kind, text=text, actor=actor, permalink=permalink)
        self.store.append(number, entry)

    def entries(self, number: int) -> list[TimelineEntry]:
        """The timeline in time order, with the kill-switch moves read from the audit trail."""
        switches = [
            TimelineEntry(at=entry.at, kind=EntryKind.SWITCH, text=entry.summary, actor=entry.actor)
            for _, entry in self.audit.entries(number)
            if entry.kind in AUDIT_ON_TIMELINE
        ]
        return sorted([*self.store.entries(number), *switches], key=lambda entry: entry.at)
