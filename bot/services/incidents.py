"""Declaring incidents and reading them back: the foundation use cases."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.adapters.redis_store.incidents import IncidentStore
from bot.core.clock import Clock
from bot.core.events import Declared as DeclaredEvent
from bot.core.incident import Declaration, Incident, IncidentStatus, channel_name
from bot.core.severity import SeverityLevel, SeverityMatrix
from bot.core.timeline import EntryKind
from bot.services.errors import UserError, incident_or_refuse
from bot.services.evidence import EvidenceService, ProbeRun
from bot.services.ports import Workspace
from bot.services.timeline import TimelineService
from bot.services.timers import ResponseTimers
from bot.services.walkthrough import WalkthroughService
from bot.services.walkthrough_outcomes import EarlyRun

CHANNEL_NAME_ATTEMPTS = 20


@dataclass(frozen=True)
class Declared:
    incident: Incident
    duplicate: bool
    responders: list[str] = field(default_factory=list)  # who to invite: the declarer, the responders group
    early: list[EarlyRun] = field(default_factory=list)  # work that started before the channel existed
    probes: ProbeRun | None = None  # the probes, started before the channel existed (None without Salesforce)


class IncidentService:
    def __init__(
        self,
        store: IncidentStore,
        workspace: Workspace,
        matrix: SeverityMatrix,
        clock: Clock,
        responders_usergroup: str | None,
        timeline: TimelineService,
        walkthrough: WalkthroughService,
        evidence: EvidenceService,
        timers: ResponseTimers,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.matrix = matrix
        self.clock = clock
        self.responders_usergroup = responders_usergroup
        self.timeline = timeline
        self.walkthrough = walkthrough
        self.evidence = evidence
        self.timers = timers

    def level(self, incident: Incident) -> SeverityLevel:
        return self.matrix[incident.severity]

    def declare(self, declaration: Declaration, delivery_key: str) -> Declared:
        """Creates the incident and its channel, once per delivery (a retried delivery gets the first one back).

        The work that runs on declare (the Salesforce snapshot and probes, vendor status) starts before the channel
        exists.
        """
        created, number = self.store.claim_number(delivery_key)
        if not created:
            existing = self.store.get(number)
            if existing is None or existing.status is IncidentStatus.DECLARING:
                raise UserError(f"Incident {number} from this request is still being declared; one moment.")
            return Declared(existing, duplicate=True)
        incident = Incident.from_declaration(number, declaration, self.clock.now())
        self.store.save(incident)
        early = self.walkthrough.start_declare_runs(incident)
        probes = self.evidence.start(incident)
        channel_id, name = self._create_channel(incident)
        declared = DeclaredEvent(
            incident=number,
            at=incident.declared_at,
            actor=incident.declared_by,
            severity=incident.severity,
            drill=incident.drill,
            private=incident.private,
        )
        incident = self.store.update(
            incident, events=[declared], channel_id=channel_id, channel_name=name, status=IncidentStatus.INVESTIGATING
        )
        self.timeline.record(
            number,
            EntryKind.DECLARED,
            f"{incident.reference} declared: {incident.severity.label} {incident.title}",
            actor=incident.declared_by,
            at=incident.declared_at,
        )
        self.timers.schedule(incident)
        return Declared(
            incident, duplicate=False, responders=self._first_responders(incident), early=early, probes=probes
        )

    def _create_channel(self, incident: Incident) -> tuple[str, str]:
        for attempt in range(1, CHANNEL_NAME_ATTEMPTS + 1):
            name = channel_name(incident.number, incident.title, drill=incident.drill, attempt=attempt)
            channel_id = self.workspace.create_channel(name, private=incident.private)
            if channel_id:
                return channel_id, name
        raise UserError(f"Could not find a free channel name for {incident.reference}; rename an old channel.")

    def _first_responders(self, incident: Incident) -> list[str]:
        users = [incident.declared_by]
        if self.responders_usergroup:
            users += [u for u in self.workspace.usergroup_members(self.responders_usergroup) if u not in users]
        return users

    def get(self, number: int) -> Incident:
        return incident_or_refuse(self.store.get(number), number, open_only=False)

    def first_delivery(self, delivery: str, seconds: int, about: int | None) -> tuple[bool, Incident | None]:
        """Whether a signed request is seen for the first time, and the incident it is about as stored now (read
        in the same round trip: a click's guard needs it next)."""
        return self.store.first_delivery(delivery, seconds, about)

    def refuse_missing(self, number: int, found: Incident | None) -> Incident:
        """The incident a person asked about, read already; the sentence when there is none."""
        return incident_or_refuse(found, number, open_only=False)

    def find(self, number: int) -> Incident | None:
        """The incident as stored now, or None: for work that runs later and may find it gone."""
        return self.store.get(number)

    def open_incident(self, number: int) -> Incident:
        return incident_or_refuse(self.store.get(number), number, open_only=True)

    def in_channel(self, channel_id: str) -> Incident | None:
        return self.store.by_channel(channel_id)

    def status(self, channel_id: str, viewer: str) -> Incident | list[Incident]:
        """`/incident status`: the incident of this channel, or, typed elsewhere, the open incidents `viewer` may
        see."""
        return self.in_channel(channel_id) or self.open_incidents(viewer)

    def open_incidents(self, viewer: str) -> list[Incident]:
        """The open incidents `viewer` may see: private ones only for the members of their channel."""
        return [
            incident
            for incident in self.store.open_incidents()
            if not incident.private
            or (incident.channel_id and viewer in self.workspace.channel_members(incident.channel_id))
        ]
