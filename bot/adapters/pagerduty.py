"""PagerDuty's Events API v2: trigger, acknowledge and resolve one alert per incident by its dedup key.

202 is accepted; 400 is refused with PagerDuty's errors (not retried); 429, 5xx and network errors are for
later (the caller's job is retried, and the dedup key makes a retried trigger the same alert).
"""

from __future__ import annotations

from typing import Any

import requests

from bot.adapters.http import json_object, outside_request
from bot.core.outside import ServiceRefused
from bot.core.paging import Alert, PageAction

SEVERITIES = {1: "critical", 2: "error", 3: "warning", 4: "info"}
SOURCE = "flowmason-incident-bot"


class PagerDuty:
    name = "PagerDuty"

    def __init__(self, events_url: str, routing_key: str) -> None:
        self.events_url = events_url
        self._routing_key = routing_key
        self._http = requests.Session()

    def send(self, action: PageAction, alert: Alert) -> str:
        """Sends `action` for the incident's alert; returns what PagerDuty said."""
        event: dict[str, Any] = {"routing_key": self._routing_key, "dedup_key": alert.dedup_key}
        if action in (PageAction.TRIGGER, PageAction.UPDATE):  # an update is a trigger on the open alert
            event["event_action"] = "trigger"
            event["payload"] = {
                "summary": alert.summary,
                "severity": SEVERITIES[alert.severity.value],
                "source": SOURCE,
                "custom_details": alert.details,
            }
            event["links"] = [{"href": url, "text": text} for text, url in alert.links]
        else:
            event["event_action"] = action.value
        answer = outside_request(self._http, self.name, "POST", self.events_url, json=event)
        if answer.status_code == 202:
            return str(json_object(answer).get("message") or "Event processed")
        body = json_object(answer)
        errors = "; ".join(str(e) for e in body.get("errors") or [])
        said = str(body.get("message") or f"HTTP {answer.status_code}") + (f": {errors}" if errors else "")
        raise ServiceRefused(f"PagerDuty refused the event ({said})")
