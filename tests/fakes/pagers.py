"""Fakes of PagerDuty's Events API v2 and Opsgenie's Alert API on loopback, answering as their documentation
says, with their limits: PagerDuty answers 202 `{"status": "success", "message": "Event processed", "dedup_key"}`,
400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` for a malformed event or
a routing key it does not know, and 429 or 5xx when asked to; events for one dedup key go to one alert while it
is open (a trigger on an open alert adds to it, acknowledge and resolve on none are dropped). Opsgenie takes
every request asynchronously (202 with a request id; the request's status is 404 until processed), refuses a
missing or wrong `GenieKey` with 401 and an invalid alert with 422 and its errors, and deduplicates a create on
an open alert's alias.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.fakes.loopback import LoopbackService, StatusFaults, json_handler

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, as PagerDuty's integration keys
OPSGENIE_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
SEVERITIES = {"critical", "error", "warning", "info"}


@dataclass
class PdAlert:
    dedup_key: str
    summary: str
    severity: str
    status: str = "triggered"
    triggers: int = 1
    links: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class FakePagerDuty(StatusFaults, LoopbackService):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.alerts: dict[str, PdAlert] = {}
        self.accepted: list[dict[str, Any]] = []  # every event answered 202, in order
        self.faults: list[int] = []  # HTTP statuses to answer next, one per event
        self.serve(json_handler(self))

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/enqueue"

    def handle(self, verb: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if verb != "POST" or urlparse(path).path != "/v2/enqueue":
            return 404, {"status": "not found"}
        with self.lock:
            status = self.next_fault()
            if status is not None:
                return status, {"status": "error", "message": "injected"}
            try:
                event = json.loads(body)
            except ValueError:
                return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": ["Bad JSON"]}
            errors = self._errors(event)
            if errors:
                return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
            self.accepted.append(event)
            self._apply(event)
            return 202, {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]}

    def _errors(self, event: dict[str, Any]) -> list[str]:
        key = str(event.get("routing_key") or "")
        if len(key) != 32:
            return ["Length of 'routing_key' is incorrect (should be 32 characters)"]
        if key != ROUTING_KEY:
            return ["Invalid routing key"]
        if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            return ["'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"]
        if len(str(event.get("dedup_key") or "")) > 255:
            return ["'dedup_key' is too long (maximum is 255 characters)"]
        if event["event_action"] != "trigger":
            return []
        payload = event.get("payload") or {}
        problems = [f"'payload.{name}' is missing or blank" for name in ("summary", "source") if not payload.get(name)]
        if len(str(payload.get("summary") or "")) > 1024:
            problems.append("'payload.summary' is too long (maximum is 1024 characters)")
        if payload.get("severity") not in SEVERITIES:
            problems.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
        return problems

    def _apply(self, event: dict[str, Any]) -> None:
        key, action = event["dedup_key"], event["event_action"]
        alert = self.alerts.get(key)
        is_open = alert is not None and alert.status != "resolved"
        if action == "trigger":
            payload = event["payload"]
            if is_open and alert is not None:
                alert.triggers += 1
                alert.severity = payload["severity"]
                return
            self.alerts[key] = PdAlert(
                key,
                payload["summary"],
                payload["severity"],
                links=event.get("links") or [],
                details=payload.get("custom_details") or {},
            )
        elif is_open and alert is not None:  # acknowledge, resolve; dropped when no alert is open
            alert.status = "acknowledged" if action == "acknowledge" else "resolved"


@dataclass
class OgAlert:
    alias: str
    message: str
    priority: str
    description: str
    status: str = "open"
    acknowledged: bool = False
    count: int = 1
    details: dict[str, Any] = field(default_factory=dict)


class FakeOpsgenie(StatusFaults, LoopbackService):
    def __init__(self, unprocessed_reads: int = 1) -> None:
        """Each request's status answers 404 for its first `unprocessed_reads` reads: it is being processed."""
        self.lock = threading.Lock()
        self.received = 0
        self.alerts: dict[str, OgAlert] = {}
        self.requests: dict[str, dict[str, Any]] = {}
        self.reads: dict[str, int] = {}
        self.unprocessed_reads = unprocessed_reads
        self.faults: list[int] = []
        self.accepted: list[tuple[str, str]] = []  # (method, path) answered 202
        self.serve(json_handler(self))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, verb: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parsed = urlparse(path)
        took = {"took": 0.01, "requestId": str(uuid.uuid4())}
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        with self.lock:
            status = self.next_fault()
            if status is not None:
                return status, {"message": "injected", **took}
            if auth != f"GenieKey {OPSGENIE_KEY}":
                return 401, {"message": "Could not authenticate", **took}
            parts = [unquote(p) for p in parsed.path.strip("/").split("/")]
            if verb == "GET" and parts[:3] == ["v2", "alerts", "requests"] and len(parts) == 4:
                return self._status(parts[3], took)
            data = json.loads(body) if body else {}
            if verb == "POST" and parts == ["v2", "alerts"]:
                return self._create(data, took)
            if len(parts) == 4 and parts[:2] == ["v2", "alerts"]:
                if parse_qs(parsed.query).get("identifierType") != ["alias"]:
                    return 422, {"message": "identifierType must be given", **took}
                return self._act(verb, parts[2], parts[3], data, took)
            return 404, {"message": "Not found", **took}

    def _accept(self, verb: str, path: str, outcome: dict[str, Any], took: dict[str, Any]) -> tuple[int, Any]:
        self.requests[took["requestId"]] = outcome
        self.reads[took["requestId"]] = 0
        self.accepted.append((verb, path))
        return 202, {"result": "Request will be processed", **took}

    def _create(self, data: dict[str, Any], took: dict[str, Any]) -> tuple[int, Any]:
        message, alias = str(data.get("message") or ""), str(data.get("alias") or "")
        errors = {}
        if not message:
            errors["message"] = "Message can not be empty."
        elif len(message) > 130:
            errors["message"] = "Message can not be longer than 130 characters."
        if len(alias) > 512:
            errors["alias"] = "Alias can not be longer than 512 characters."
        if data.get("priority", "P3") not in ("P1", "P2", "P3", "P4", "P5"):
            errors["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
        if errors:
            return 422, {
                "message": "Request body is not processable. Please check the errors.",
                "errors": errors,
                **took,
            }
        existing = self.alerts.get(alias)
        if existing is not None and existing.status == "open":
            existing.count += 1
            status = "Alert is deduplicated"
        else:
            self.alerts[alias] = OgAlert(
                alias,
                message,
                str(data.get("priority", "P3")),
                str(data.get("description") or ""),
                details=data.get("details") or {},
            )
            status = "Created alert"
        outcome = {"success": True, "isSuccess": True, "action": "Create", "status": status, "alias": alias}
        return self._accept("POST", "/v2/alerts", outcome, took)

    def _act(self, verb: str, alias: str, what: str, data: dict[str, Any], took: dict[str, Any]) -> tuple[int, Any]:
        alert = self.alerts.get(alias)
        action = {"acknowledge": "Acknowledge", "close": "Close", "priority": "Update Priority"}.get(what)
        if action is None or (what == "priority") != (verb == "PUT"):
            return 404, {"message": "Not found", **took}
        if alert is None:
            outcome = {"success": False, "isSuccess": False, "action": action, "status": "Alert does not exist"}
        else:
            if what == "acknowledge":
                alert.acknowledged = True
            elif what == "close":
                alert.status = "closed"
            else:
                alert.priority = str(data.get("priority"))
            outcome = {
                "success": True,
                "isSuccess": True,
                "action": action,
                "status": f"{action}d alert",
                "alias": alias,
            }
        return self._accept(verb, f"/v2/alerts/{alias}/{what}", outcome, took)

    def _status(self, request_id: str, took: dict[str, Any]) -> tuple[int, Any]:
        outcome = self.requests.get(request_id)
        if outcome is None or self.reads[request_id] < self.unprocessed_reads:
            if outcome is not None:
                self.reads[request_id] += 1
            return 404, {"message": "Request not found. It might not be processed, yet.", **took}
        return 200, {"data": {**outcome, "processedAt": "2026-11-25T14:00:01.000Z"}, **took}
