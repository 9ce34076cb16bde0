"""The event outbox: each event is written in the same MULTI or script as the change it records, so a crash
between the two loses nothing; the worker's dispatcher reads it through a consumer group and hands each event to
each subscriber that wants it as an RQ job of its own.

Keys:
    events                             stream: the outbox (JSON in the field `event`), capped at OUTBOX_LENGTH
    events:delivered:<subscriber>:<id> a subscriber received the event (kept DELIVERED_SECONDS)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import redis

from bot.adapters.redis_store.keys import Keys
from bot.core.events import Event, parse_event

GROUP = "dispatch"
OUTBOX_LENGTH = 100_000  # approximately: older events are trimmed once every subscriber had them for long
DELIVERED_SECONDS = 7 * 24 * 3600


class EventOutbox:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self.stream = self._key("events")

    def add(self, pipe: Any, *events: Event) -> None:
        """Queues the events on a pipeline (MULTI) that also holds the change they record."""
        for event in events:
            pipe.xadd(self.stream, {"event": event.model_dump_json()}, maxlen=OUTBOX_LENGTH, approximate=True)

    def publish(self, *events: Event) -> None:
        """Events that record no write of their own (a timer that fired, a page asked for)."""
        with self._redis.pipeline() as pipe:
            self.add(pipe, *events)
            pipe.execute()

    def claim(self, consumer: str, count: int = 100, block_ms: int | None = None) -> list[tuple[str, Event]]:
        """New events for the dispatcher (`block_ms` waits for some; None returns at once)."""
        answer = cast(
            list[tuple[str, list[tuple[str, dict[str, str]]]]],
            self._grouped(
                lambda: self._redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
            ),
        )
        return [(entry_id, parse_event(fields["event"])) for _, entries in answer or [] for entry_id, fields in entries]

    def stale(self, consumer: str, idle_ms: int, count: int = 100) -> list[tuple[str, Event]]:
        """Events a dispatcher took and never acknowledged (it died), taken over after `idle_ms`."""
        answer = cast(
            list[Any],
            self._grouped(lambda: self._redis.xautoclaim(self.stream, GROUP, consumer, idle_ms, "0-0", count=count)),
        )
        return [(entry_id, parse_event(fields["event"])) for entry_id, fields in answer[1] if fields]

    def ack(self, *entry_ids: str) -> None:
        if entry_ids:
            self._redis.xack(self.stream, GROUP, *entry_ids)

    def _grouped(self, read: Callable[[], Any]) -> Any:
        """`read`, after making the dispatchers' group the first time (from the outbox's start)."""
        try:
            return read()
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
        try:
            self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        return read()

    def delivered(self, subscriber: str, event_id: str) -> bool:
        return bool(self._redis.exists(self._key("events", "delivered", subscriber, event_id)))

    def mark_delivered(self, subscriber: str, event_id: str) -> None:
        self._redis.set(self._key("events", "delivered", subscriber, event_id), 1, ex=DELIVERED_SECONDS)
