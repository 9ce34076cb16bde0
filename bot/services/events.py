"""From the outbox to the subscribers: the dispatcher hands each event to each subscriber that wants it as an RQ
job of its own, with an id of the event and the subscriber (queued once), retried on its own; a delivery that
succeeded is remembered, so an event reaches a subscriber once even when the dispatcher or a worker died midway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.adapters.redis_store.events import EventOutbox
from bot.adapters.scheduler import Scheduler
from bot.core.events import Event, parse_event
from bot.jobs import JobName
from bot.subscribers import Subscriber

logger = logging.getLogger(__name__)
DELIVERY_RETRIES = [10, 60, 300, 900, 3600]  # seconds: a subscriber down for an hour still gets its events
STALE_MS = 60_000  # an event a dispatcher took and never acknowledged is taken over after this


class EventDispatch:
    def __init__(self, outbox: EventOutbox, scheduler: Scheduler, subscribers: Sequence[Subscriber]) -> None:
        self.outbox = outbox
        self.scheduler = scheduler
        self.subscribers = {subscriber.name: subscriber for subscriber in subscribers}

    def dispatch(self, consumer: str, block_ms: int | None = None) -> int:
        """Queues a delivery per subscriber for each new event (and those a dead dispatcher left); returns how many
        events it handed on."""
        taken = self.outbox.stale(consumer, STALE_MS) + self.outbox.claim(consumer, block_ms=block_ms)
        for entry_id, event in taken:
            for subscriber in self.subscribers.values():
                if subscriber.wants(event):
                    self.scheduler.enqueue(
                        JobName.DELIVER_EVENT,
                        subscriber.name,
                        event.model_dump_json(),
                        job_id=self.scheduler.job_id("event", subscriber.name, event.id),
                        retry_after=DELIVERY_RETRIES,
                    )
            self.outbox.ack(entry_id)
        return len(taken)

    def deliver(self, subscriber_name: str, event_json: str) -> None:
        """The job: one event to one subscriber, unless it has it already."""
        subscriber = self.subscribers.get(subscriber_name)
        event: Event = parse_event(event_json)
        if subscriber is None:
            logger.warning("an event for %s, which is no longer configured, was dropped", subscriber_name)
            return
        if self.outbox.delivered(subscriber.name, event.id):
            return
        subscriber.deliver(event)
        self.outbox.mark_delivered(subscriber.name, event.id)
