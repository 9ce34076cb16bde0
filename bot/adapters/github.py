"""GitHub Issues: an action item becomes an issue of GITHUB_REPOSITORY (REST API, a token with Issues read and
write), found again by the item's key in its body before any create; and what GitHub's `issues` webhook says
changed (closed, reopened, assigned).

201 is created; 401, 404, 410 and 422 are refused in GitHub's words (an owner GitHub will not assign is left out
and named in the body instead); 429, 5xx, a 403 that says the rate limit is spent, and network errors are for
later (the caller's job is retried, and the search before create keeps it one issue).
"""

from __future__ import annotations

from typing import Any

import requests

from bot.adapters.http import instant, json_object, outside_request
from bot.core.outside import ServiceRefused, ServiceUnavailable
from bot.core.tracking import IssueChange, IssueDraft, Tracked

API_VERSION = "2022-11-28"
CHANGES = {"closed": True, "reopened": False}


class GitHub:
    name = "GitHub"

    def __init__(self, api_url: str, repository: str, token: str, labels: tuple[str, ...]) -> None:
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        self.labels = labels
        self._http = requests.Session()
        self._http.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
            }
        )

    def find(self, key: str) -> Tracked | None:
        """The issue that carries `key`, if one was made already (a create whose answer was lost)."""
        query = f'repo:{self.repository} is:issue in:body "{key}"'
        answer = self._call("GET", "/search/issues", params={"q": query})
        items = json_object(answer).get("items") or []
        return _tracked(items[0]) if items else None

    def create(self, draft: IssueDraft) -> Tracked:
        body: dict[str, Any] = {"title": draft.title, "body": _body(draft, assigned=bool(draft.owner.login))}
        if self.labels:
            body["labels"] = list(self.labels)
        if draft.owner.login:
            body["assignees"] = [draft.owner.login]
        answer = self._http_post(body)
        if answer.status_code == 422 and "assignees" in body and _invalid(answer, "assignees"):
            del body["assignees"]  # not assignable in this repository: named in the body instead
            body["body"] = _body(draft, assigned=False)
            answer = self._http_post(body)
        if answer.status_code != 201:
            raise ServiceRefused(f"GitHub refused the issue ({_said(answer)})")
        return _tracked(json_object(answer))

    def check(self) -> str:
        """A read that changes nothing: the repository, and whether it takes issues."""
        repository = json_object(self._call("GET", f"/repos/{self.repository}"))
        if not repository.get("has_issues", True):
            raise ServiceRefused(f"{self.repository} has issues turned off")
        visibility = "private" if repository.get("private") else "public"
        return f"{self.repository} ({visibility}) takes issues"

    def _http_post(self, body: dict[str, Any]) -> requests.Response:
        answer = outside_request(
            self._http, self.name, "POST", f"{self.api_url}/repos/{self.repository}/issues", json=body
        )
        _raise_for_later(answer)
        return answer

    def _call(self, method: str, path: str, **options: Any) -> requests.Response:
        answer = outside_request(self._http, self.name, method, self.api_url + path, **options)
        _raise_for_later(answer)
        if answer.status_code != 200:
            raise ServiceRefused(f"GitHub refused to answer ({_said(answer)})")
        return answer


def issue_change(event: str, payload: dict[str, Any]) -> IssueChange | None:
    """What an `issues` delivery says changed; None for other events and actions (`opened` is the bot's own)."""
    if event != "issues":
        return None
    action = str(payload.get("action") or "")
    issue = payload.get("issue") or {}
    by = str((payload.get("sender") or {}).get("login") or "someone")
    at = instant(issue.get("updated_at"))
    number = str(issue.get("number") or "")
    if not number:
        return None
    if action in CHANGES:
        return IssueChange("GitHub", number, by, at, done=CHANGES[action])
    if action in ("assigned", "unassigned"):
        assignee = (issue.get("assignee") or {}).get("login")
        return IssueChange("GitHub", number, by, at, assignee=assignee, assignee_known=True)
    return None


def _tracked(issue: dict[str, Any]) -> Tracked:
    return Tracked(
        tracker="GitHub",
        issue=str(issue["number"]),
        url=str(issue.get("html_url") or ""),
        done=issue.get("state") == "closed",
        assignee=(issue.get("assignee") or {}).get("login"),
    )


def _body(draft: IssueDraft, *, assigned: bool) -> str:
    lines = list(draft.body)
    if draft.due:
        lines.insert(1, f"Due: {draft.due.isoformat()}")  # GitHub issues have no due date of their own
    if draft.owner.login and not assigned:
        lines.append(f"Owner on GitHub: @{draft.owner.login} (GitHub would not assign them in this repository)")
    lines += [f"{text}: {url}" for text, url in draft.links]
    return "\n\n".join(lines)


def _raise_for_later(answer: requests.Response) -> None:
    if answer.status_code == 403 and answer.headers.get("x-ratelimit-remaining") == "0":
        raise ServiceUnavailable("GitHub's rate limit is spent for now")


def _invalid(answer: requests.Response, field: str) -> bool:
    errors = json_object(answer).get("errors") or []
    return any(isinstance(error, dict) and error.get("field") == field for error in errors)


def _said(answer: requests.Response) -> str:
    body = json_object(answer)
    errors = body.get("errors") or []
    detail = "; ".join(
        f"{error.get('field')}: {error.get('code')}" if isinstance(error, dict) else str(error) for error in errors
    )
    message = str(body.get("message") or f"HTTP {answer.status_code}")
    return f"{message}: {detail}" if detail else message
