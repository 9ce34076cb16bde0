"""What the adapters that speak HTTP to outside services share: the JSON object an answer carries (or none), and,
for the pagers, one request told apart as answered, refused for now (try later) or not reached."""

from __future__ import annotations

from typing import Any

import requests

from bot.core.paging import PagerUnavailable

TIMEOUT_SECONDS = 10


def json_object(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object; {} for anything else (HTML from a proxy, a list, nothing)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def pager_request(http: requests.Session, pager: str, method: str, url: str, **options: Any) -> requests.Response:
    """One request to a pager; raises PagerUnavailable when it is for later (not reached, 429, 5xx)."""
    try:
        answer = http.request(method, url, timeout=TIMEOUT_SECONDS, **options)
    except requests.RequestException as error:
        raise PagerUnavailable(f"{pager} could not be reached ({type(error).__name__})") from None
    if answer.status_code == 429 or answer.status_code >= 500:
        raise PagerUnavailable(f"{pager} answered HTTP {answer.status_code}")
    return answer
