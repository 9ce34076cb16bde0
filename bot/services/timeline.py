"""The timeline, captured as it happens: the bot's own records, the kill-switch moves from the audit trail,
and the channel messages (thread replies included) people mark with :pushpin: or pin, kept at their post time,
edited with them, removed when the message, the last pin or the last :pushpin: goes."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.adapters.redis_store.audit import AuditStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.timeline import Capture, TimelineStore
from bot.core.audit import AuditKind
from bot.core.clock import Clock
from bot.core.timeline import EntryKind, TimelineEntry
from bot.services.ports import Workspace

# Audit entries that belong on the timeline (refusals and execution starts stay in the audit trail only).
AUDIT_ON_TIMELINE = frozenset(AuditKind) - {AuditKind.REFUSED, AuditKind.EXECUTION_STARTED}
PUSHPIN = "pushpin"


class TimelineService:
    def __init__(
        self, store: TimelineStore, audit: AuditStore, incidents: IncidentStore, workspace: Workspace, clock: Clock
    ) -> None:
        self.store = store
        self.audit = audit
        self.incidents = incidents
        self.workspace = workspace
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
            for entry in self.audit.entries(number)
            if entry.kind in AUDIT_ON_TIMELINE
        ]
        return sorted([*self.store.entries(number), *switches], key=lambda entry: entry.at)

    # ----- messages people mark

    def mark(self, channel: str, ts: str, by: str, *, pin: bool, added: bool) -> None:
        """A pin or a :pushpin: reaction was added or removed on a message of an incident channel."""
        incident = self.incidents.by_channel(channel)
        if incident is None:
            return
        source = f"{channel}/{ts}"
        with self.store.locked(incident.number, source):
            capture = self.store.capture(incident.number, source)
            if pin:
                capture.pinned = added
            elif added and by not in capture.reactors:
                capture.reactors.append(by)
            elif not added and by in capture.reactors:
                capture.reactors.remove(by)
            if capture.marked and capture.entry_id is None:
                capture.entry_id = self._capture(incident.number, channel, ts)
                if capture.entry_id is None:
                    return
            elif not capture.marked and capture.entry_id is not None:
                self.store.delete(incident.number, capture.entry_id)
                capture.entry_id = None
            self.store.save_capture(incident.number, source, capture)

    def _capture(self, number: int, channel: str, ts: str) -> str | None:
        message = self.workspace.posted_message(channel, ts)
        if message is None:
            return None
        entry = TimelineEntry(
            at=datetime.fromtimestamp(float(ts), UTC),
            kind=EntryKind.MESSAGE,
            text=message.text,
            actor=message.author,
            permalink=message.permalink,
            source=f"{channel}/{ts}",
        )
        return self.store.append(number, entry)

    def edited(self, channel: str, ts: str, text: str) -> None:
        self._replace(channel, ts, text)

    def deleted(self, channel: str, ts: str) -> None:
        self._replace(channel, ts, None)

    def _replace(self, channel: str, ts: str, text: str | None) -> None:
        """An edit rewrites the captured entry (same post time); a deletion removes it."""
        incident = self.incidents.by_channel(channel)
        if incident is None:
            return
        source = f"{channel}/{ts}"
        with self.store.locked(incident.number, source):
            capture = self.store.capture(incident.number, source)
            if capture.entry_id is None:
                return
            old = next((e for e in self.store.entries(incident.number) if e.source == source), None)
            self.store.delete(incident.number, capture.entry_id)
            if text is None or old is None:
                self.store.save_capture(incident.number, source, Capture())
                return
            capture.entry_id = self.store.append(incident.number, old.model_copy(update={"text": text}))
            self.store.save_capture(incident.number, source, capture)
