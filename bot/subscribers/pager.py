"""Paging the on-call (PagerDuty, Opsgenie): one subscriber per configured pager, each told the incident's events
and deciding by the rules of `bot/core/paging.py` what to send. One alert per incident (its dedup key); an
answer the pager refuses is said once in the channel and not tried again; a pager that is down or rate limited
fails the delivery, whose job is tried again later (the dedup key keeps it one alert), and a page it has not
taken yet is said once in the channel, so that nobody believes the on-call is on the way."""

from __future__ import annotations

import hashlib
from typing import Protocol

from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.pages import PageStore
from bot.adapters.scheduler import Scheduler
from bot.core.clock import Clock
from bot.core.events import Acknowledged, Declared, Event, PageRequested, Resolved, SeverityChanged, TargetMissed
from bot.core.outside import ServiceRefused, ServiceUnavailable
from bot.core.paging import Alert, PageAction, decide
from bot.core.severity import Severity
from bot.core.timeline import EntryKind
from bot.jobs import JobName
from bot.services.events import DELIVERY_RETRIES
from bot.services.paging import Paging
from bot.services.timeline import TimelineService

TOLD = (Declared, SeverityChanged, TargetMissed, PageRequested, Acknowledged, Resolved)


class PagerBackend(Protocol):
    name: str

    def send(self, action: PageAction, alert: Alert) -> str: ...


class Pager:
    def __init__(
        self,
        backend: PagerBackend,
        paging: Paging,
        incidents: IncidentStore,
        pages: PageStore,
        timeline: TimelineService,
        scheduler: Scheduler,
        clock: Clock,
        page_on: frozenset[Severity],
    ) -> None:
        self.backend = backend
        self.name = f"pager-{backend.name.lower()}"
        self.paging = paging
        self.incidents = incidents
        self.pages = pages
        self.timeline = timeline
        self.scheduler = scheduler
        self.clock = clock
        self.page_on = page_on

    def wants(self, event: Event) -> bool:
        return isinstance(event, TOLD)

    def deliver(self, event: Event) -> None:
        incident = self.incidents.get(event.incident)
        if incident is None:
            return
        pager = self.backend.name
        decision = decide(event, incident, self.pages.state(incident.number, pager), self.page_on)
        if decision is None:
            return
        alert = self.paging.alert(incident)
        try:
            said = self.backend.send(decision.action, alert)
        except ServiceUnavailable as unavailable:
            if decision.action is PageAction.TRIGGER and self.pages.say_once(incident.number, pager, "unavailable"):
                text = f"{pager} has not taken the page yet ({unavailable})"
                self.timeline.record(incident.number, EntryKind.PAGE, text)
                minutes = sum(DELIVERY_RETRIES) // 60
                self._tell(
                    incident.number,
                    f":hourglass: {text}. The bot tries again for about {minutes} minutes; "
                    "if this cannot wait, call the on-call.",
                )
            raise  # this job is tried again later
        except ServiceRefused as refused:
            if self.pages.say_once(incident.number, pager, f"{decision.action}: {refused}"):
                text = f"{pager} refused to {decision.action.value} the page: {refused}"
                self.timeline.record(incident.number, EntryKind.PAGE, text)
                self._tell(incident.number, f":warning: {text}. Check the {pager} settings (`incident-bot doctor`).")
            return
        now = self.clock.now()
        self.pages.mark(incident.number, pager, decision.action, now)
        verb = {
            PageAction.TRIGGER: f"Paged the on-call through {pager}",
            PageAction.ACKNOWLEDGE: f"{pager} page acknowledged",
            PageAction.RESOLVE: f"{pager} page resolved",
            PageAction.UPDATE: f"{pager} page updated",
        }[decision.action]
        self.timeline.record(incident.number, EntryKind.PAGE, f"{verb} ({decision.why}): {said}", at=now)
        self.scheduler.enqueue(
            JobName.SHOW_INCIDENT,
            incident.number,
            job_id=self.scheduler.job_id("show-incident", incident.number, pager, decision.action, event.id),
        )
        if decision.action is PageAction.TRIGGER:
            self._tell(incident.number, f":pager: {verb} ({decision.why}): `{alert.dedup_key}`.")

    def _tell(self, number: int, text: str) -> None:
        """One message in the incident's channel, by a job of its own (Slack is not this subscriber's)."""
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.scheduler.enqueue(JobName.TELL_CHANNEL, number, text, job_id=self.scheduler.job_id("tell", number, digest))
