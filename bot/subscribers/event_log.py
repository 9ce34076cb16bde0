"""The smallest subscriber: every event as one JSON log line (`bot.events`), for a log store to keep and search.
Events carry no words, so a private incident's line says no more than its number."""

from __future__ import annotations

import logging

from bot.core.events import Event

logger = logging.getLogger("bot.events")


class EventLog:
    name = "event-log"

    def wants(self, event: Event) -> bool:
        return True

    def deliver(self, event: Event) -> None:
        logger.info("event: %s", event.kind, extra={"event": event.model_dump(mode="json")})
