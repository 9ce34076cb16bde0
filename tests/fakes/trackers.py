"""Fakes of GitHub's and Jira Cloud's REST APIs on loopback, answering as their documentation says, and of their
webhook deliveries (signed as each signs them).

GitHub: a Bearer token (401 `Bad credentials` otherwise); `GET /repos/{owner}/{repo}` (404 `Not Found` for a
repository the token does not reach); `POST …/issues` answers 201 with the issue, 422 `Validation Failed` with
its errors (no title, an assignee the repository cannot assign); `GET /search/issues` finds by `repo:`, `is:issue`
and a quoted phrase `in:body`, and, like GitHub's index, may not show an issue made a moment ago
(`hidden_from_search`); 429 with `Retry-After`, and 403 with `x-ratelimit-remaining: 0` when asked to.

Jira: basic auth with the account's email and API token (401 otherwise); `POST /rest/api/3/issue` answers 201
`{id, key, self}`, or 400 `{errorMessages, errors}` for a project or issue type it does not know, a description
that is not an Atlassian document, a label with a space, or a field the project's create screen lacks (`duedate`
when `screen` says so); `GET /rest/api/3/search/jql` finds by project and label; `/myself`, `/project/{key}`,
`/user/search` (an email matches only a user who shows it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import uuid
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

from tests.fakes.loopback import DROP, LoopbackService, StatusFaults, json_handler

GITHUB_TOKEN = "github_pat_11AAAAAAA0fakeTokenForTheTests"
REPOSITORY = "acme/ops"
JIRA_EMAIL = "bot@acme.example"
JIRA_TOKEN = "ATATT3xFfGF0fakeJiraToken"
PROJECT = "OPS"
NOW = "2026-11-25T14:05:00Z"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeGitHub(StatusFaults, LoopbackService):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.issues: dict[int, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []  # every create GitHub took, in order
        self.assignable = {"octocat", "alice-gh"}
        self.hidden_from_search: set[int] = set()
        self.faults: list[int] = []  # HTTP statuses for the next requests
        self.drop_creates = 0  # creates made whose answer is lost (the connection closes unanswered)
        self.create_faults: list[int] = []  # HTTP statuses for the next creates, which make nothing
        self.private = True
        self._numbers = itertools.count(1)
        self.serve(json_handler(self))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, verb: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        parsed = urlparse(path)
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        with self.lock:
            fault = self.next_fault()
            if fault == 429:
                return 429, {"message": "API rate limit exceeded"}, {"Retry-After": "1"}
            if fault == 403:
                return 403, {"message": "API rate limit exceeded"}, {"x-ratelimit-remaining": "0"}
            if isinstance(fault, int):
                return fault, {"message": "Server Error"}
            if auth not in (f"Bearer {GITHUB_TOKEN}", f"token {GITHUB_TOKEN}"):
                return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
            if verb == "GET" and parsed.path == f"/repos/{REPOSITORY}":
                return 200, {"full_name": REPOSITORY, "private": self.private, "has_issues": True}
            if verb == "POST" and parsed.path == f"/repos/{REPOSITORY}/issues":
                if self.create_faults:
                    return self.create_faults.pop(0), {"message": "Server Error"}
                status, issue = self._create(json.loads(body or b"{}"))
                if status == 201 and self.drop_creates:
                    self.drop_creates -= 1
                    return DROP
                return status, issue
            if verb == "GET" and parsed.path == "/search/issues":
                return 200, self._search(parse_qs(parsed.query).get("q", [""])[0])
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}

    def _create(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not data.get("title"):
            return 422, _invalid("title", "missing_field")
        assignees = data.get("assignees") or []
        wrong = [login for login in assignees if login not in self.assignable]
        if wrong:
            return 422, _invalid("assignees", "invalid", wrong[0])
        number = next(self._numbers)
        assignee = {"login": assignees[0]} if assignees else None
        issue = {
            "id": 1000 + number,
            "number": number,
            "title": data["title"],
            "body": data.get("body") or "",
            "state": "open",
            "html_url": f"https://github.com/{REPOSITORY}/issues/{number}",
            "assignee": assignee,
            "assignees": [assignee] if assignee else [],
            "labels": [{"name": label} for label in data.get("labels") or []],
            "created_at": NOW,
            "updated_at": NOW,
        }
        self.issues[number] = issue
        self.created.append(issue)
        return 201, issue

    def _search(self, query: str) -> dict[str, Any]:
        phrase = re.search(r'"([^"]+)"', query)
        in_repo = f"repo:{REPOSITORY}" in query
        items = [
            issue
            for number, issue in self.issues.items()
            if in_repo and phrase and phrase.group(1) in issue["body"] and number not in self.hidden_from_search
        ]
        return {"total_count": len(items), "incomplete_results": False, "items": items}

    def change(self, number: int, action: str, sender: str, assignee: str | None = None) -> tuple[bytes, str]:
        """Someone closes, reopens or assigns an issue on GitHub: the `issues` delivery's body and its event."""
        with self.lock:
            issue = self.issues[number]
            if action == "closed":
                issue["state"] = "closed"
            elif action == "reopened":
                issue["state"] = "open"
            elif action in ("assigned", "unassigned"):
                issue["assignee"] = {"login": assignee} if assignee else None
            issue["updated_at"] = "2026-11-26T09:30:00Z"
            payload = {
                "action": action,
                "issue": issue,
                "repository": {"full_name": REPOSITORY},
                "sender": {"login": sender},
            }
        return json.dumps(payload).encode(), "issues"


def deliver_github(url: str, body: bytes, event: str, secret: str | None, delivery: str | None = None) -> int:
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return requests.post(url, data=body, headers=headers, timeout=10).status_code


def _invalid(field: str, code: str, value: str | None = None) -> dict[str, Any]:
    error = {"resource": "Issue", "field": field, "code": code}
    if value is not None:
        error["value"] = value
    return {"message": "Validation Failed", "errors": [error], "documentation_url": "https://docs.github.com/rest"}


class FakeJira(StatusFaults, LoopbackService):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = 0
        self.issues: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.users = [
            {
                "accountId": "5b10ac8d82e05b22cc7d4ef5",
                "displayName": "Bob Builder",
                "emailAddress": "u0bob0001@example.com",
                "active": True,
            },
            {"accountId": "5b10a2844c20165700ede21g", "displayName": "Hidden Email", "active": True},
        ]
        self.screen = {"summary", "description", "project", "issuetype", "labels", "duedate", "assignee"}
        self.faults: list[int] = []
        self._ids = itertools.count(10000)
        self._numbers = itertools.count(1)
        self.serve(json_handler(self))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, verb: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        parsed = urlparse(path)
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        expected = "Basic " + base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
        with self.lock:
            fault = self.next_fault()
            if fault == 429:
                return 429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, {"Retry-After": "1"}
            if isinstance(fault, int):
                return fault, {"errorMessages": ["Internal server error"], "errors": {}}
            if auth != expected:
                return 401, {"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}
            route = parsed.path
            query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            if verb == "GET" and route == "/rest/api/3/myself":
                return 200, {"accountId": "557058:bot", "displayName": "Incident Bot", "emailAddress": JIRA_EMAIL}
            if verb == "GET" and route.startswith("/rest/api/3/project/"):
                key = route.rsplit("/", 1)[1]
                if key != PROJECT:
                    return 404, {"errorMessages": [f"No project could be found with key '{key}'."], "errors": {}}
                return 200, {"id": "10001", "key": PROJECT, "name": "Operations"}
            if verb == "GET" and route == "/rest/api/3/user/search":
                wanted = query.get("query", "").lower()
                return 200, [u for u in self.users if wanted and wanted in str(u.get("emailAddress", "")).lower()]
            if verb == "POST" and route == "/rest/api/3/issue":
                return self._create(json.loads(body or b"{}"))
            if verb == "GET" and route == "/rest/api/3/search/jql":
                jql = query.get("jql", "")
                project = re.search(r'project = "([^"]+)"', jql)
                if project and project.group(1) != PROJECT:
                    message = f"The value '{project.group(1)}' does not exist for the field 'project'."
                    return 400, {"errorMessages": [message], "errors": {}}
                return 200, self._search(jql)
            return 404, {"errorMessages": ["Not found"], "errors": {}}

    def _create(self, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        fields = data.get("fields") or {}
        errors: dict[str, str] = {}
        for name in fields:
            if name not in self.screen:
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        if (fields.get("project") or {}).get("key") != PROJECT:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in ("Task", "Bug"):
            errors["issuetype"] = "Specify a valid issue type"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        description = fields.get("description")
        if description is not None and (not isinstance(description, dict) or description.get("type") != "doc"):
            errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        for label in fields.get("labels") or []:
            if " " in label:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if "duedate" in fields and "duedate" in self.screen:
            try:
                date.fromisoformat(fields["duedate"])
            except ValueError:
                errors["duedate"] = "Error parsing date string: " + str(fields["duedate"])
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        key = f"{PROJECT}-{next(self._numbers)}"
        issue_id = str(next(self._ids))
        account = (fields.get("assignee") or {}).get("accountId")
        assignee = next((u for u in self.users if u["accountId"] == account), None)
        issue = {
            "id": issue_id,
            "key": key,
            "fields": {
                "summary": fields["summary"],
                "labels": fields.get("labels") or [],
                "duedate": fields.get("duedate"),
                "assignee": {"accountId": account, "displayName": assignee["displayName"]} if assignee else None,
                "status": {"name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}},
                "description": description,
                "updated": "2026-11-25T14:05:00.000+0000",
            },
        }
        self.issues[key] = issue
        self.created.append(issue)
        return 201, {"id": issue_id, "key": key, "self": f"{self.base_url}/rest/api/3/issue/{issue_id}"}

    def _search(self, jql: str) -> dict[str, Any]:
        project = re.search(r'project = "([^"]+)"', jql)
        label = re.search(r'labels = "([^"]+)"', jql)
        found = [
            issue
            for issue in self.issues.values()
            if project
            and issue["key"].startswith(project.group(1) + "-")
            and (label is None or label.group(1) in issue["fields"]["labels"])
        ]
        return {"issues": found, "isLast": True}

    def transition(self, key: str, done: bool, by: str, duedate: str | None = None) -> bytes:
        """Someone moves an issue to Done (or back) in Jira, maybe changing its due date: the delivery's body."""
        with self.lock:
            fields = self.issues[key]["fields"]
            before = fields["status"]["name"]
            fields["status"] = (
                {"name": "Done", "statusCategory": {"key": "done", "name": "Done"}}
                if done
                else {"name": "In Progress", "statusCategory": {"key": "indeterminate", "name": "In Progress"}}
            )
            items = [{"field": "status", "fromString": before, "toString": fields["status"]["name"]}]
            if duedate is not None:
                items.append({"field": "duedate", "fromString": fields["duedate"], "toString": duedate})
                fields["duedate"] = duedate
            fields["updated"] = "2026-11-26T09:30:00.000+0000"
            payload = {
                "timestamp": int(datetime(2026, 11, 26, 9, 30, tzinfo=UTC).timestamp() * 1000),
                "webhookEvent": "jira:issue_updated",
                "issue_event_type_name": "issue_generic",
                "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": by},
                "issue": self.issues[key],
                "changelog": {"id": "10101", "items": items},
            }
        return json.dumps(payload).encode()


def deliver_jira(url: str, body: bytes, secret: str | None, delivery: str | None = None) -> int:
    headers = {
        "Content-Type": "application/json",
        "X-Atlassian-Webhook-Identifier": delivery or str(uuid.uuid4()),
        "X-Atlassian-Webhook-Flow": "Primary",
    }
    if secret is not None:
        headers["X-Hub-Signature"] = sign(body, secret)
    return requests.post(url, data=body, headers=headers, timeout=10).status_code
