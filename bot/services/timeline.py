"""Recording what happens during an incident, as it happens."""

from __future__ import annotations

from datetime import datetime

from bot.adapters.redis_store import TimelineStore
from bot.core.clock import Clock
from bot.core.timeline import EntryKind, TimelineEntry


class TimelineService:
    def __init__(self, store: TimelineStore, clock: Clock) -> None:
        self.store = store
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
        return self.store.entries(number)
