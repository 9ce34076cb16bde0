"""The subscribers other than Slack: each module one subscriber, told the incident's events through the outbox,
each event as an RQ job of its own (so a slow or failing one delays nobody, and a retry never repeats another's
work). A subscriber is one module here and one line in `bot/app.py::build_services`."""

from __future__ import annotations

from typing import Protocol

from bot.core.events import Event


class Subscriber(Protocol):
    name: str  # unique, stable: it names the subscriber's jobs and what it has received

    def wants(self, event: Event) -> bool: ...

    def deliver(self, event: Event) -> None:
        """Acts on the event; raises to be tried again later (its job is retried)."""
        ...
