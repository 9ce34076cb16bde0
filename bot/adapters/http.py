"""What the adapters that speak HTTP to outside services share: the JSON object an answer carries (or none), and,
for the pagers and trackers, one request told apart as answered, or for later (not reached, 429, 5xx)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from bot.core.outside import ServiceUnavailable

TIMEOUT_SECONDS = 10


def json_object(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object; {} for anything else (HTML from a proxy, a list, nothing)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def outside_request(http: requests.Session, service: str, method: str, url: str, **options: Any) -> requests.Response:
    """One request to a pager or a tracker; raises ServiceUnavailable when it is for later (not reached, 429, 5xx)."""
    try:
        answer = http.request(method, url, timeout=TIMEOUT_SECONDS, **options)
    except requests.RequestException as error:
        raise ServiceUnavailable(f"{service} could not be reached ({type(error).__name__})") from None
    if answer.status_code == 429 or answer.status_code >= 500:
        raise ServiceUnavailable(f"{service} answered HTTP {answer.status_code}")
    return answer


def instant(value: object) -> datetime | None:
    """An ISO 8601 time from an outside service's JSON (`2026-11-25T14:05:00.000Z`, `…+0000`); None when absent or
    not a time."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"  # Jira's +0000
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
