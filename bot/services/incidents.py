"""Declaring incidents and reading them back: the foundation use cases."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.adapters.redis_store import IncidentStore
from bot.adapters.slack_api import SlackApi
from bot.core.clock import Clock
from bot.core.incident import Declaration, Incident, IncidentStatus, channel_name
from bot.core.severity import BusinessCalendar, SeverityMatrix
from bot.core.timeline import EntryKind
from bot.render.blocks import Blocks, incident_header
from bot.services.errors import UserError
from bot.services.timeline import TimelineService
from bot.services.walkthrough import WalkthroughService

CHANNEL_NAME_ATTEMPTS = 20


def together(*work: Callable[[], object]) -> None:
    """Runs independent calls at once and waits for all; the first failure is raised once all are done."""
    with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="declare") as pool:
        futures = [pool.submit(call) for call in work]
    for future in futures:
        future.result()


@dataclass(frozen=True)
class Declared:
    incident: Incident
    duplicate: bool


class IncidentService:
    def __init__(
        self,
        store: IncidentStore,
        slack: SlackApi,
        matrix: SeverityMatrix,
        calendar: BusinessCalendar,
        clock: Clock,
        responders_usergroup: str | None,
        timeline: TimelineService,
        walkthrough: WalkthroughService,
    ) -> None:
        self.store = store
        self.timeline = timeline
        self.walkthrough = walkthrough
        self.start_timers: Callable[[Incident], None] | None = None  # the response service's, set by the wiring
        self.slack = slack
        self.matrix = matrix
        self.calendar = calendar
        self.clock = clock
        self.responders_usergroup = responders_usergroup

    @property
    def timezone(self) -> ZoneInfo:
        return self.calendar.timezone

    def deadline(self, incident: Incident) -> datetime:
        return self.matrix[incident.severity].deadline(incident.declared_at, self.calendar)

    def declare(self, declaration: Declaration, delivery_key: str, announce: Callable[[Declared], None]) -> None:
        """Creates the incident, its channel and pinned header, once per delivery (retries get the first one).

        `announce` is told as soon as the channel is ready; the checklist, the picker and the work that runs on
        declare (the Salesforce snapshot, vendor status) follow. Their fetches start before the channel exists.
        """
        created, number = self.store.claim_number(delivery_key)
        if not created:
            existing = self.store.get(number)
            if existing is None or existing.status is IncidentStatus.DECLARING:
                raise UserError(f"Incident {number} from this request is still being declared; one moment.")
            announce(Declared(existing, duplicate=True))
            return
        incident = Incident.from_declaration(number, declaration, self.clock.now())
        self.store.save(incident)
        early = self.walkthrough.start_declare_runs(incident)
        channel_id, name = self._create_channel(incident)
        incident = self.store.update(incident, channel_id=channel_id, channel_name=name)
        incident = incident.model_copy(update={"status": IncidentStatus.INVESTIGATING})
        header_ts = self.slack.post(channel_id, *self.header(incident))
        incident = self.store.update(incident, header_ts=header_ts, status=IncidentStatus.INVESTIGATING)
        self.timeline.record(
            number,
            EntryKind.DECLARED,
            f"{incident.reference} declared: {incident.severity.label} {incident.title}",
            actor=incident.declared_by,
            at=incident.declared_at,
        )
        if self.start_timers is not None:
            self.start_timers(incident)
        self.walkthrough.post_checklist(incident)
        # The rest depends on nothing but the channel: do it at once (the snapshot's fetch started long ago).
        together(
            lambda: self.slack.pin(channel_id, header_ts),
            lambda: self.slack.invite(channel_id, self._first_responders(incident)),
            lambda: announce(Declared(incident, duplicate=False)),
            lambda: self.walkthrough.post_picker(incident),
            *(functools.partial(self.walkthrough.finish_declare_run, incident, run) for run in early),
        )

    def _create_channel(self, incident: Incident) -> tuple[str, str]:
        for attempt in range(1, CHANNEL_NAME_ATTEMPTS + 1):
            name = channel_name(incident.number, incident.title, drill=incident.drill, attempt=attempt)
            channel_id = self.slack.create_channel(name, private=incident.private)
            if channel_id:
                return channel_id, name
        raise UserError(f"Could not find a free channel name for {incident.reference}; rename an old channel.")

    def _first_responders(self, incident: Incident) -> list[str]:
        users = [incident.declared_by]
        if self.responders_usergroup:
            users += [u for u in self.slack.usergroup_members(self.responders_usergroup) if u not in users]
        return users

    def header(self, incident: Incident) -> tuple[str, Blocks]:
        level = self.matrix[incident.severity]
        return incident_header(incident, level, self.deadline(incident), self.timezone, self.clock.now())

    def refresh_header(self, incident: Incident) -> None:
        """The pinned header, updated in place after a change."""
        if incident.channel_id and incident.header_ts:
            self.slack.update(incident.channel_id, incident.header_ts, *self.header(incident))

    def in_channel(self, channel_id: str) -> Incident | None:
        return self.store.by_channel(channel_id)

    def open_incidents(self, viewer: str) -> list[Incident]:
        """The open incidents `viewer` may see: private ones only for the members of their channel."""
        return [
            incident
            for incident in self.store.open_incidents()
            if not incident.private
            or (incident.channel_id and viewer in self.slack.channel_members(incident.channel_id))
        ]
