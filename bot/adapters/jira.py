"""Jira Cloud: an action item becomes an issue of JIRA_PROJECT_KEY (REST API v3, an API token), labelled with the
item's key and found again by it before any create; its description in Atlassian Document Format, its due date
in `duedate`, its assignee by account id where the owner's email matches a Jira user. And what Jira's
`jira:issue_updated` webhook says changed, by status category (not status names, which each workflow names its
own way).

201 is created; 400 is refused in Jira's words (except a due date or an assignee the project's screen does not
take: left out and written in the description instead), as are 401, 403 and 404; 429, 5xx and network errors are
for later (the caller's job is retried; the label keeps it one issue).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import requests

from bot.adapters.http import instant, json_object, outside_request
from bot.core.outside import ServiceRefused
from bot.core.tracking import IssueChange, IssueDraft, Tracked

OPTIONAL_FIELDS = ("duedate", "assignee")  # a project's create screen may not have them


class Jira:
    name = "Jira"

    def __init__(self, base_url: str, email: str, token: str, project: str, issue_type: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.project = project
        self.issue_type = issue_type
        self._http = requests.Session()
        self._http.auth = (email, token)
        self._http.headers["Accept"] = "application/json"

    def find(self, key: str) -> Tracked | None:
        """The issue labelled with `key`, if one was made already (a create whose answer was lost)."""
        jql = f'project = "{self.project}" AND labels = "{key}"'
        answer = self._call("GET", "/rest/api/3/search/jql", params={"jql": jql, "fields": "status,assignee,duedate"})
        issues = json_object(answer).get("issues") or []
        return self._tracked(issues[0]) if issues else None

    def create(self, draft: IssueDraft) -> Tracked:
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "summary": draft.title,
            "issuetype": {"name": self.issue_type},
            "labels": [draft.key],
        }
        if draft.due:
            fields["duedate"] = draft.due.isoformat()
        account = self._account(draft.owner.email) if draft.owner.email else None
        if account:
            fields["assignee"] = {"accountId": account}
        fields["description"] = _document(draft, set())
        answer = self._post(fields)
        refused = set(_errors(answer)) & set(OPTIONAL_FIELDS)
        if answer.status_code == 400 and refused and refused == set(_errors(answer)):
            for name in refused:
                fields.pop(name, None)
            fields["description"] = _document(draft, refused)
            answer = self._post(fields)
        if answer.status_code != 201:
            raise ServiceRefused(f"Jira refused the issue ({_said(answer)})")
        created = json_object(answer)
        key = str(created["key"])
        return Tracked(tracker=self.name, issue=key, url=f"{self.base_url}/browse/{key}", due=draft.due)

    def check(self) -> str:
        """Reads that change nothing: who the token is, and the project."""
        me = json_object(self._call("GET", "/rest/api/3/myself"))
        project = json_object(self._call("GET", f"/rest/api/3/project/{self.project}"))
        who = me.get("displayName") or me.get("accountId")
        return f"signed in as {who}; project {self.project} ({project.get('name')})"

    def _account(self, email: str) -> str | None:
        """The account id of the active Jira user with this email; None when none matches (or Jira hides it)."""
        users = self._call("GET", "/rest/api/3/user/search", params={"query": email}).json()
        for user in users if isinstance(users, list) else []:
            if user.get("active", True) and str(user.get("emailAddress") or "").lower() == email.lower():
                return str(user["accountId"])
        return None

    def _post(self, fields: dict[str, Any]) -> requests.Response:
        return outside_request(
            self._http, self.name, "POST", f"{self.base_url}/rest/api/3/issue", json={"fields": fields}
        )

    def _call(self, method: str, path: str, **options: Any) -> requests.Response:
        answer = outside_request(self._http, self.name, method, self.base_url + path, **options)
        if answer.status_code != 200:
            raise ServiceRefused(f"Jira refused to answer ({_said(answer)})")
        return answer

    def _tracked(self, issue: dict[str, Any]) -> Tracked:
        fields = issue.get("fields") or {}
        key = str(issue["key"])
        return Tracked(
            tracker=self.name,
            issue=key,
            url=f"{self.base_url}/browse/{key}",
            done=_category(fields) == "done",
            assignee=(fields.get("assignee") or {}).get("displayName"),
            due=_day(fields.get("duedate")),
        )


def issue_change(payload: dict[str, Any]) -> IssueChange | None:
    """What a `jira:issue_updated` delivery says changed: done by status category, assignee and due date when the
    changelog names them; None for other events (`jira:issue_created` is the bot's own)."""
    if payload.get("webhookEvent") != "jira:issue_updated":
        return None
    issue = payload.get("issue") or {}
    fields = issue.get("fields") or {}
    changed = {str(item.get("field") or "").lower() for item in (payload.get("changelog") or {}).get("items") or []}
    by = str((payload.get("user") or {}).get("displayName") or "someone")
    at = instant(fields.get("updated")) or _epoch_ms(payload.get("timestamp"))
    key = str(issue.get("key") or "")
    if not key:
        return None
    return IssueChange(
        "Jira",
        key,
        by,
        at,
        done=_category(fields) == "done" if "status" in changed or "resolution" in changed else None,
        assignee=(fields.get("assignee") or {}).get("displayName"),
        assignee_known="assignee" in changed,
        due=_day(fields.get("duedate")),
        due_known="duedate" in changed,
    )


def _epoch_ms(value: object) -> datetime | None:
    """Jira's `timestamp`, milliseconds since the epoch."""
    return datetime.fromtimestamp(value / 1000, UTC) if isinstance(value, int | float) else None


def _category(fields: dict[str, Any]) -> str:
    return str(((fields.get("status") or {}).get("statusCategory") or {}).get("key") or "")


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _document(draft: IssueDraft, left_out: set[str]) -> dict[str, Any]:
    """The description in Atlassian Document Format: a paragraph each, the links as links."""
    paragraphs = list(draft.body)
    if "duedate" in left_out and draft.due:
        paragraphs.insert(1, f"Due: {draft.due.isoformat()} (this project's screen takes no due date)")
    content: list[dict[str, Any]] = [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]} for text in paragraphs
    ]
    content += [
        {
            "type": "paragraph",
            "content": [{"type": "text", "text": text, "marks": [{"type": "link", "attrs": {"href": url}}]}],
        }
        for text, url in draft.links
    ]
    return {"type": "doc", "version": 1, "content": content}


def _errors(answer: requests.Response) -> dict[str, str]:
    errors = json_object(answer).get("errors")
    return {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}


def _said(answer: requests.Response) -> str:
    body = json_object(answer)
    messages = [str(m) for m in body.get("errorMessages") or []]
    messages += [f"{k}: {v}" for k, v in _errors(answer).items()]
    return "; ".join(messages) or f"HTTP {answer.status_code}"
