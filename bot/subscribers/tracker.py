"""Action items to a tracker (GitHub Issues, Jira): one subscriber per configured tracker. When the incident's
post-mortem is published, or someone asks (`/incident actions export`), every item not exported yet goes to the
tracker, and from then on each item added goes when it is added. Each issue's link is said in the incident's
action-items thread by a job of its own (Slack is not this subscriber's). A tracker that is down fails the
delivery, whose job is tried again later; the item's key keeps it one issue."""

from __future__ import annotations

import hashlib

from bot.adapters.scheduler import Scheduler
from bot.core.events import ActionItemAdded, Event, ExportRequested, PostmortemPublished
from bot.jobs import JobName
from bot.services.ports import Tracker
from bot.services.tracking import Tracking

TOLD = (PostmortemPublished, ExportRequested, ActionItemAdded)
TELL_RETRIES = [5, 30, 120]


class TrackerSubscriber:
    def __init__(self, tracker: Tracker, tracking: Tracking, scheduler: Scheduler) -> None:
        self.tracker = tracker
        self.name = f"tracker-{tracker.name.lower()}"
        self.tracking = tracking
        self.scheduler = scheduler

    def wants(self, event: Event) -> bool:
        return isinstance(event, TOLD)

    def deliver(self, event: Event) -> None:
        number = event.incident
        if isinstance(event, ActionItemAdded):
            if not self.tracking.following(number):
                return  # exported when the post-mortem is published, or asked for
            places = [event.item]
        else:
            places = self.tracking.follow(number)
        for place in places:
            told = self.tracking.export_item(self.tracker, number, place)
            if told is not None:
                digest = hashlib.sha256(told.text.encode()).hexdigest()[:16]
                self.scheduler.enqueue(
                    JobName.TELL_ACTIONS,
                    told.incident,
                    told.text,
                    job_id=self.scheduler.job_id("actions", self.tracker.name, number, digest),
                    retry_after=TELL_RETRIES,
                )
