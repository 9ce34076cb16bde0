"""Action items in a tracker, as rules (`bot/core/tracking.py`): what an issue says, what a change means, what is
overdue, what the draft shows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.core.incident import Incident
from bot.core.postmortem import ActionItem
from bot.core.severity import Severity
from bot.core.tracking import IssueChange, Owner, Tracked, apply, draft_for, issue_cells, item_key, overdue
from tests.builders import an_incident

AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
LINKS = (("Slack channel", "https://slack.com/app_redirect?channel=C1&team=T1"),)


def incident(**fields: object) -> Incident:
    return an_incident(**{"number": 7, "title": "Quokka exfiltration", "severity": Severity.SEV2, **fields})


def item(text: str = "Rotate the keys", owner: str | None = "U2", due: date | None = date(2026, 12, 1)) -> ActionItem:
    return ActionItem(text=text, owner=owner, due=due, added_by="U1", added_at=AT)


def test_an_issue_says_the_item_and_where_it_comes_from_and_a_private_one_no_words() -> None:
    key = item_key("prod", 7, 0)
    assert key == "prod-incident-7-action-1"
    owner = Owner("Bob (Slack U2)", login="bob")
    draft = draft_for(incident(), item(), 0, key, owner, LINKS, private_allowed=False)
    assert draft.title == "[INC-7] Rotate the keys" and draft.due == date(2026, 12, 1)
    assert draft.body[0] == "Rotate the keys" and "Incident: Quokka exfiltration" in draft.body
    assert draft.body[-1] == f"Exported by the FlowMason incident bot; key {key}."
    secret = draft_for(incident(private=True), item(), 0, key, owner, LINKS, private_allowed=False)
    assert secret.title == "[INC-7] action item 1 (private incident)"
    assert not any("Quokka" in line or "Rotate" in line for line in secret.body)
    allowed = draft_for(incident(private=True), item(), 0, key, owner, LINKS, private_allowed=True)
    assert allowed.title == "[INC-7] Rotate the keys"
    flagged = draft_for(incident(), item(owner=None, due=None), 1, key, Owner(None), (), private_allowed=False)
    assert "Flagged in the post-mortem: no owner, no due date." in flagged.body
    long = draft_for(incident(), item("x" * 400), 0, key, Owner(None), (), private_allowed=False)
    assert len(long.title) == 255 and long.title.endswith("…")


def test_a_change_says_only_what_differs_from_what_the_bot_knew() -> None:
    known = Tracked(tracker="GitHub", issue="12", url="u", assignee="bob")
    echo = IssueChange("GitHub", "12", "bob", AT, assignee="bob", assignee_known=True)
    assert apply(known, echo, AT) == (known, [])  # the bot's own assignment, echoed back
    closed, said = apply(known, IssueChange("GitHub", "12", "octocat", None, done=True), AT)
    assert said == ["closed by octocat"] and closed.done and closed.changed_at == AT and closed.changed_by == "octocat"
    reopened, said = apply(closed, IssueChange("GitHub", "12", "bob", AT, done=False), AT)
    assert said == ["reopened by bob"] and not reopened.done
    moved, said = apply(
        known,
        IssueChange("Jira", "12", "x", AT, assignee=None, assignee_known=True, due=date(2026, 12, 8), due_known=True),
        AT,
    )
    assert said == ["unassigned", "due 2026-12-08"] and moved.assignee is None and moved.due == date(2026, 12, 8)
    assert apply(known, IssueChange("GitHub", "12", "x", AT), AT) == (known, [])  # says nothing we follow


def test_overdue_is_past_its_due_date_and_not_done_anywhere() -> None:
    items = [item(due=date(2026, 11, 24)), item(due=date(2026, 11, 24)), item(due=None), item(due=date(2026, 11, 26))]
    done = Tracked(tracker="Jira", issue="OPS-2", url="u", done=True)
    later = Tracked(tracker="Jira", issue="OPS-1", url="u", due=date(2026, 12, 30))  # rescheduled there
    assert overdue(items, {1: [done]}, date(2026, 11, 26)) == [0]
    assert overdue(items, {0: [later], 1: [done]}, date(2026, 11, 26)) == []
    assert overdue(items, {}, date(2026, 11, 27)) == [0, 1, 3]  # the due date itself is not late


def test_the_draft_shows_each_issue_inert_and_ticks_the_done_ones() -> None:
    issues = {
        0: [
            Tracked(tracker="GitHub", issue="12", url="https://github.com/a/b/issues/12"),
            Tracked(
                tracker="Jira",
                issue="OPS-3",
                url="https://x.atlassian.net/browse/OPS-3",
                done=True,
                changed_at=AT,
                changed_by="[evil](link)",
            ),
        ]
    }
    cells, done = issue_cells(issues, ZoneInfo("Europe/Paris"))
    assert done == frozenset({0})
    assert cells[0] == (
        "[GitHub #12](https://github.com/a/b/issues/12) open; [Jira OPS-3](https://x.atlassian.net/browse/OPS-3) done "
        "2026-11-25 15:00 by \\[evil\\](link)"
    )
