"""Action items in the team's tracker (GitHub Issues, Jira): what an exported issue says, the key that keeps one
issue per item however often it is exported, and what a change made in the tracker means for the item.

Plain rules; the adapters speak each tracker's API. An issue never carries a private incident's words unless the
operator allows it (TRACKER_PRIVATE_INCIDENTS): only the incident's number and a link that needs Slack membership.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from bot.core.incident import Incident
from bot.core.postmortem import ActionItem, markdown_text

TITLE_LIMIT = 255  # Jira's summary; GitHub takes 256


@dataclass(frozen=True)
class Owner:
    """Who owns an item, as the tracker can name them: a GitHub login (GITHUB_USERS), an email for Jira to look
    up, and always how Slack names them (for the body, when the tracker cannot assign them)."""

    slack: str | None
    login: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class IssueDraft:
    key: str  # the item's idempotency key, carried by the issue (GitHub: in its body; Jira: a label)
    title: str
    body: tuple[str, ...]  # paragraphs of plain text
    due: date | None
    owner: Owner
    links: tuple[tuple[str, str], ...]  # (text, url)


class Tracked(BaseModel):
    """An item's issue in one tracker, as the bot last knew it."""

    model_config = ConfigDict(frozen=True)
    tracker: str
    issue: str  # GitHub's number, Jira's key (OPS-24)
    url: str
    done: bool = False
    changed_at: datetime | None = None  # when it was closed or reopened there
    changed_by: str | None = None
    assignee: str | None = None
    due: date | None = None

    @property
    def label(self) -> str:
        return f"#{self.issue}" if self.issue.isdigit() else self.issue


@dataclass(frozen=True)
class IssueChange:
    """What a tracker's webhook says changed in one issue; None for what it does not say."""

    tracker: str
    issue: str
    by: str
    at: datetime | None  # when the tracker says it changed (None: when it arrived)
    done: bool | None = None
    assignee: str | None = None
    assignee_known: bool = False  # the delivery says who is assigned (None: nobody)
    due: date | None = None
    due_known: bool = False


@dataclass(frozen=True)
class Item:
    """An action item as `/incident actions` shows it: its place, its issues, and what a tracker refused."""

    place: int
    item: ActionItem
    issues: tuple[Tracked, ...]
    refused: tuple[str, ...]


@dataclass(frozen=True)
class ActionItems:
    incident: Incident
    items: tuple[Item, ...]
    trackers: tuple[str, ...]


@dataclass(frozen=True)
class Overdue:
    incident: Incident
    items: tuple[Item, ...]


def item_key(prefix: str, number: int, place: int) -> str:
    """The same for every export of one item, in every tracker: `<KEY_PREFIX>-incident-12-action-2`."""
    return f"{prefix}-incident-{number}-action-{place + 1}"


def draft_for(
    incident: Incident,
    item: ActionItem,
    place: int,
    key: str,
    owner: Owner,
    links: tuple[tuple[str, str], ...],
    *,
    private_allowed: bool,
) -> IssueDraft:
    """The issue an item becomes. A private incident's item says only whose action item it is, unless allowed."""
    secret = incident.private and not private_allowed
    subject = f"action item {place + 1} (private incident)" if secret else item.text
    title = f"[{incident.reference}] {subject}"
    body = [f"Action item {place + 1} of {incident.reference} ({incident.severity.label})."]
    if not secret:
        body.insert(0, item.text)
        body.append(f"Incident: {incident.title}")
    if owner.slack:
        body.append(f"Owner in Slack: {owner.slack}")
    if item.problems:
        body.append(f"Flagged in the post-mortem: {', '.join(item.problems)}.")
    body.append(f"Exported by the FlowMason incident bot; key {key}.")
    return IssueDraft(key, _cut(title), tuple(body), item.due, owner, links)


def apply(tracked: Tracked, change: IssueChange, now: datetime) -> tuple[Tracked, list[str]]:
    """The item's issue after `change`, and what changed, in words ("closed by octocat"); nothing when the delivery
    only repeats what the bot knew (its own creation and assignment included)."""
    said: list[str] = []
    update: dict[str, object] = {}
    if change.done is not None and change.done != tracked.done:
        update |= {"done": change.done, "changed_at": change.at or now, "changed_by": change.by}
        said.append(f"{'closed' if change.done else 'reopened'} by {change.by}")
    if change.assignee_known and change.assignee != tracked.assignee:
        update["assignee"] = change.assignee
        said.append(f"assigned to {change.assignee}" if change.assignee else "unassigned")
    if change.due_known and change.due != tracked.due:
        update["due"] = change.due
        said.append(f"due {change.due.isoformat()}" if change.due else "no due date")
    return tracked.model_copy(update=update), said


def overdue(items: list[ActionItem], tracked: dict[int, list[Tracked]], today: date) -> list[int]:
    """The places of items past their due date and not done in any tracker (the tracker's own due date wins)."""
    late = []
    for place, item in enumerate(items):
        issues = tracked.get(place, [])
        if any(issue.done for issue in issues):
            continue
        due = next((issue.due for issue in issues if issue.due), item.due)
        if due is not None and due < today:
            late.append(place)
    return late


def _cut(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LIMIT else line[: TITLE_LIMIT - 1] + "…"


def issue_cells(tracked: dict[int, list[Tracked]], timezone: ZoneInfo) -> tuple[dict[int, str], frozenset[int]]:
    """For the draft: each item's issues as inert Markdown (`[GitHub #12](url) done 2026-12-02 14:05 by octocat`),
    and the places of the items done in a tracker."""
    cells = {}
    for place, issues in tracked.items():
        parts = []
        for issue in issues:
            link = f"[{issue.tracker} {issue.label}]({issue.url.replace(')', '%29')})"
            if issue.done:
                when = f" {issue.changed_at.astimezone(timezone):%Y-%m-%d %H:%M}" if issue.changed_at else ""
                by = f" by {markdown_text(issue.changed_by)}" if issue.changed_by else ""
                parts.append(f"{link} done{when}{by}")
            else:
                parts.append(f"{link} open")
        cells[place] = "; ".join(parts)
    done = frozenset(place for place, issues in tracked.items() if any(issue.done for issue in issues))
    return cells, done
