"""Paging as the incident sees it: what an alert says (`alert`), asking to page now (`/incident page`), what each
pager was told (the header), and what a pager says back (PagerDuty's signed webhook: acknowledged or resolved
there). The sending itself is the pager subscribers' (`bot/subscribers/pager.py`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.adapters.http import instant
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.pages import PageStore
from bot.adapters.redis_store.webhooks import Deliveries
from bot.adapters.scheduler import Scheduler
from bot.core.access import Privilege
from bot.core.clock import Clock
from bot.core.events import PageRequested
from bot.core.incident import Incident
from bot.core.paging import Alert, PageAction, PageState, alert_for
from bot.core.timeline import EntryKind
from bot.jobs import JobName
from bot.services.access import Access
from bot.services.errors import UserError, incident_or_refuse
from bot.services.links import incident_links
from bot.services.ports import EventSink
from bot.services.timeline import TimelineService
from bot.services.timers import Deadlines
from bot.services.webhooks import signed

PAGERDUTY = "PagerDuty"
REASON_MAX = 300
PAGERDUTY_CHANGES = {"incident.acknowledged": PageAction.ACKNOWLEDGE, "incident.resolved": PageAction.RESOLVE}


@dataclass(frozen=True)
class PageAsked:
    incident: Incident
    pagers: tuple[str, ...]


class Paging:
    def __init__(
        self,
        incidents: IncidentStore,
        pages: PageStore,
        deliveries: Deliveries,
        timeline: TimelineService,
        access: Access,
        events: EventSink,
        scheduler: Scheduler,
        deadlines: Deadlines,
        clock: Clock,
        pagers: tuple[str, ...],
        key_prefix: str,
        web_base_url: str | None,
        pagerduty_webhook_secret: str | None,
    ) -> None:
        self.incidents = incidents
        self.pages = pages
        self.deliveries = deliveries
        self.timeline = timeline
        self.access = access
        self.events = events
        self.scheduler = scheduler
        self.deadlines = deadlines
        self.clock = clock
        self.pagers = pagers
        self.key_prefix = key_prefix
        self.web_base_url = web_base_url
        self._webhook_secret = pagerduty_webhook_secret

    def dedup_key(self, number: int) -> str:
        """The one alert of an incident, in every pager: its dedup key (PagerDuty), its alias (Opsgenie)."""
        return f"{self.key_prefix}-incident-{number}"

    def alert(self, incident: Incident) -> Alert:
        links = incident_links(incident, self.web_base_url)
        return alert_for(incident, self.dedup_key(incident.number), self.deadlines.deadline(incident), links)

    def states(self, number: int) -> dict[str, PageState]:
        """What each configured pager was told of the incident."""
        return {pager: self.pages.state(number, pager) for pager in self.pagers}

    def page(self, number: int, actor: str, reason: str) -> PageAsked:
        """`/incident page REASON`: the on-call paged now, whatever the severity; never in a drill, never twice."""
        incident = incident_or_refuse(self.incidents.get(number), number, open_only=True)
        self.access.require(incident, actor, Privilege.ACT)
        if incident.drill:
            raise UserError(f"{incident.reference} is a drill: a drill never pages anyone.")
        if not self.pagers:
            raise UserError(
                "No pager is set up: set PAGERDUTY_ROUTING_KEY or OPSGENIE_API_KEY (see README, Paging the on-call)."
            )
        if not reason or len(reason) > REASON_MAX:
            raise UserError(f"Say why, in at most {REASON_MAX} characters: `/incident page the database is down`.")
        paged = {pager: state for pager, state in self.states(number).items() if state.triggered_at}
        if paged:
            pager, state = next(iter(paged.items()))
            assert state.triggered_at is not None
            raise UserError(
                f"{incident.reference} already paged the on-call through {pager} at "
                f"{state.triggered_at:%H:%M} UTC: one incident pages once."
            )
        self.timeline.record(number, EntryKind.PAGE, f"Page asked for: {reason}", actor)
        self.events.publish(PageRequested(incident=number, at=self.clock.now(), actor=actor))
        return PageAsked(incident, self.pagers)

    def pagerduty_webhook(self, body: bytes, signatures: str) -> int:
        """A PagerDuty v3 webhook: the HTTP status to answer. Unsigned, wrongly signed: 401, nothing changes; a
        replay, another event type or an alert that is not one of ours: 200, nothing changes."""
        if not signed(body, self._webhook_secret, signatures, "v1"):
            return 401
        try:
            event = json.loads(body)["event"]
            delivery, change = str(event["id"]), PAGERDUTY_CHANGES.get(str(event["event_type"]))
            key = str((event.get("data") or {}).get("incident_key") or "")
        except (ValueError, KeyError, TypeError):
            return 400
        number = self._number(key)
        if change is None or number is None or not self.deliveries.first(PAGERDUTY, delivery):
            return 200
        incident = self.incidents.get(number)
        if incident is None:
            return 200
        who = str((event.get("agent") or {}).get("summary") or "someone")
        at = instant(event.get("occurred_at")) or self.clock.now()
        self.pages.mark(number, PAGERDUTY, change, at)
        verb = "acknowledged" if change is PageAction.ACKNOWLEDGE else "resolved"
        self.timeline.record(number, EntryKind.PAGE, f"PagerDuty: the page was {verb} there by {who}", at=at)
        self.scheduler.enqueue(
            JobName.SHOW_INCIDENT, number, job_id=self.scheduler.job_id("show-incident", number, "pagerduty", delivery)
        )
        return 200

    def _number(self, key: str) -> int | None:
        match = re.fullmatch(rf"{re.escape(self.key_prefix)}-incident-(\d+)", key)
        return int(match.group(1)) if match else None
