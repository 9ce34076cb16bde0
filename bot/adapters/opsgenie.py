"""Opsgenie's Alert API (and Jira Service Management's, the same shape): create, acknowledge, close and
re-prioritise one alert per incident by its alias.

Opsgenie takes each request asynchronously: 202 with a request id, whose outcome is read back from
`/v2/alerts/requests/{id}` (404 until it is processed). A request it processed and refused is refused (with
its status); 401, 403 and 422 are refused; 429, 5xx, network errors and a request still unprocessed after a few
reads are for later (the caller's job is retried; the alias makes a retried create the same alert).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import requests

from bot.adapters.http import json_object, outside_request
from bot.core.outside import ServiceRefused, ServiceUnavailable
from bot.core.paging import Alert, PageAction

PRIORITIES = {1: "P1", 2: "P2", 3: "P3", 4: "P4"}
OUTCOME_READS = 10
OUTCOME_WAIT_SECONDS = 0.5
SOURCE = "flowmason-incident-bot"


class Opsgenie:
    name = "Opsgenie"

    def __init__(self, api_url: str, api_key: str) -> None:
        self.api_url = api_url.rstrip("/")
        self._http = requests.Session()
        self._http.headers["Authorization"] = f"GenieKey {api_key}"

    def send(self, action: PageAction, alert: Alert) -> str:
        """Sends `action` for the incident's alert and waits for Opsgenie to process it; returns its status."""
        alias = quote(alert.dedup_key, safe="")
        by_alias = {"identifierType": "alias"}
        if action is PageAction.TRIGGER:
            body = {
                "message": alert.short(),
                "alias": alert.dedup_key,
                "description": "\n".join([alert.summary, *(f"{text}: {url}" for text, url in alert.links)]),
                "priority": PRIORITIES[alert.severity.value],
                "details": alert.details,
                "source": SOURCE,
            }
            request_id = self._request("POST", "/v2/alerts", json=body)
        elif action is PageAction.UPDATE:
            body = {"priority": PRIORITIES[alert.severity.value]}
            request_id = self._request("PUT", f"/v2/alerts/{alias}/priority", params=by_alias, json=body)
        else:
            verb = "acknowledge" if action is PageAction.ACKNOWLEDGE else "close"
            note = {"source": SOURCE, "note": f"{verb}d in Slack"}
            request_id = self._request("POST", f"/v2/alerts/{alias}/{verb}", params=by_alias, json=note)
        return self._outcome(request_id)

    def _request(self, method: str, path: str, **options: Any) -> str:
        answer = outside_request(self._http, self.name, method, self.api_url + path, **options)
        if answer.status_code == 202:
            return str(json_object(answer).get("requestId") or "")
        raise ServiceRefused(f"Opsgenie refused the request ({_said(answer)})")

    def _outcome(self, request_id: str) -> str:
        """What Opsgenie made of a request, read back once it is processed."""
        for attempt in range(OUTCOME_READS):
            if attempt:
                time.sleep(OUTCOME_WAIT_SECONDS)
            try:
                answer = outside_request(
                    self._http, self.name, "GET", f"{self.api_url}/v2/alerts/requests/{request_id}"
                )
            except ServiceUnavailable:
                continue  # not answerable now: read again
            if answer.status_code == 404:
                continue  # not processed yet: read again
            if answer.status_code != 200:
                raise ServiceRefused(f"Opsgenie refused to say what became of the request ({_said(answer)})")
            data = json_object(answer).get("data") or {}
            if data.get("isSuccess") or data.get("success"):
                return str(data.get("status") or "processed")
            raise ServiceRefused(f"Opsgenie did not take it ({data.get('status') or 'no reason given'})")
        raise ServiceUnavailable("Opsgenie has not processed the request yet")


def _said(answer: requests.Response) -> str:
    body = json_object(answer)
    errors = body.get("errors")
    detail = "; ".join(f"{k}: {v}" for k, v in errors.items()) if isinstance(errors, dict) else ""
    message = str(body.get("message") or f"HTTP {answer.status_code}")
    return f"{message}: {detail}" if detail else message
