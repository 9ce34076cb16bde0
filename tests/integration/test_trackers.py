"""Action items in GitHub Issues and Jira, and their status back: driven over signed Slack HTTP, with both trackers
faked on loopback as their documentation describes them, and their webhooks delivered signed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.core.timeline import EntryKind
from bot.web import GITHUB_WEBHOOK_PATH, JIRA_WEBHOOK_PATH
from tests.conftest import GITHUB_SECRET, JIRA_SECRET, RunningBot, github_settings, jira_settings
from tests.driver import BOB, button, declare, ephemeral_texts, resolve, text_of
from tests.fakes.slack import Channel
from tests.fakes.trackers import FakeGitHub, FakeJira, deliver_github, deliver_jira


@pytest.fixture
def tracked_bot(bot_factory: Any, github: FakeGitHub, jira: FakeJira) -> RunningBot:
    return bot_factory(**github_settings(github), **jira_settings(jira))  # type: ignore[no-any-return]


def add_actions(bot: RunningBot, channel: Channel, *texts: str) -> None:
    for text in texts:
        bot.slack.command(f"action {text}", channel_id=channel.id)
    bot.fake.wait_until(lambda: len(bot.services.lifecycle.store.actions(1)) == len(texts))
    bot.wait_quiet()


def thread_lines(bot: RunningBot, channel: Channel) -> list[str]:
    """The lines in the channel's action-items thread."""
    parent = next((ts for ts, m in channel.messages.items() if m.get("text", "").startswith("*Action items of")), None)
    return [m.get("text", "") for m in channel.messages.values() if parent and m.get("thread_ts") == parent]


def action_entries(bot: RunningBot, number: int = 1) -> list[str]:
    return [e.text for e in bot.services.timeline.entries(number) if e.kind is EntryKind.ACTION]


def webhook_url(bot: RunningBot, path: str) -> str:
    return bot.url.replace("/slack/events", path)


def test_publishing_the_postmortem_exports_each_item_once_and_later_items_follow(
    tracked_bot: RunningBot, github: FakeGitHub, jira: FakeJira
) -> None:
    channel = declare(tracked_bot, "declare sev1 Org Chat leaks data")
    add_actions(tracked_bot, channel, "Fix the validator <@U0BOB0001> 2026-12-01", "Add an alert on 429s")
    assert tracked_bot.run_jobs() == 0
    assert github.created == [] and jira.created == []  # not before the post-mortem, nor asked for

    tracked_bot.slack.command("postmortem", channel_id=channel.id)  # the draft is written, and the items go
    tracked_bot.fake.wait_until(
        lambda: any("post-mortem draft of INC-1 is written" in t for t in ephemeral_texts(tracked_bot))
    )
    assert tracked_bot.run_jobs() == 0
    first, second = github.created
    assert first["title"] == "[INC-1] Fix the validator" and first["assignee"] == {"login": "octocat"}
    assert [label["name"] for label in first["labels"]] == ["incident", "follow-up"]
    assert (
        "Due: 2026-12-01" in first["body"] and "key test-" in first["body"] and "incident-1-action-1" in first["body"]
    )
    assert "Owner in Slack: u0bob0001 (Slack U0BOB0001)" in first["body"]
    assert "Slack channel: https://slack.com/app_redirect?channel=" in first["body"]
    assert second["assignee"] is None and "Flagged in the post-mortem: no owner, no due date." in second["body"]
    ops1, ops2 = jira.created
    assert ops1["fields"]["duedate"] == "2026-12-01" and ops1["fields"]["assignee"]["displayName"] == "Bob Builder"
    assert ops1["fields"]["labels"] == [f"{tracked_bot.services.settings.key_prefix}-incident-1-action-1"]
    assert ops1["fields"]["description"]["type"] == "doc"
    assert ops2["fields"]["assignee"] is None and ops2["fields"]["duedate"] is None

    tracked_bot.fake.wait_until(lambda: len(thread_lines(tracked_bot, channel)) == 4)
    assert ":link: Action item 1 is <https://github.com/acme/ops/issues/1|GitHub #1>." in thread_lines(
        tracked_bot, channel
    )
    assert f"Action item 2 exported to Jira OPS-2: {jira.base_url}/browse/OPS-2" in action_entries(tracked_bot)
    draft = tracked_bot.fake.wait_until(lambda: next(iter(tracked_bot.fake.canvases.values()), None))
    assert draft is not None

    assert tracked_bot.run_jobs() == 0 and len(github.created) == 2 and len(jira.created) == 2  # never twice
    tracked_bot.slack.command("action Write the runbook page <@U0CAROL01> 2026-12-10", channel_id=channel.id)
    tracked_bot.wait_quiet()
    assert tracked_bot.run_jobs() == 0  # an item added after the export follows at once
    assert [issue["title"] for issue in github.created][-1] == "[INC-1] Write the runbook page"
    assert len(jira.created) == 3 and jira.created[-1]["fields"]["assignee"] is None  # Carol's email is unknown there


def test_a_lost_answer_and_a_lagging_search_make_no_second_issue(
    bot_factory: Any, github: FakeGitHub, clock: Any
) -> None:
    bot = bot_factory(**github_settings(github))
    channel = declare(bot, "declare sev3 Slow enrichment")
    add_actions(bot, channel, "Cache the provider list")
    github.drop_creates = 1  # GitHub makes the issue; its answer never comes back
    github.hidden_from_search.add(1)  # and its search does not show it for a while
    bot.slack.command("actions export", channel_id=channel.id)
    bot.fake.wait_until(lambda: any("Exporting 1 action item(s) of INC-1 to GitHub" in t for t in ephemeral_texts(bot)))
    bot.run_jobs()
    assert len(github.created) == 1 and bot.services.tracking.items(1).items[0].issues == ()
    bot.run_due_jobs(at=time.time() + 30)  # the retry: nothing in the search yet, but a create went a moment ago
    assert len(github.created) == 1
    github.hidden_from_search.clear()
    bot.run_due_jobs(at=time.time() + 120)
    assert len(github.created) == 1 and bot.services.tracking.items(1).items[0].issues[0].issue == "1"

    # a create GitHub answered 502 and did not make: sent again only once its search had time to show one
    bot.slack.command("action Alert on empty caches", channel_id=channel.id)
    bot.wait_quiet()
    github.create_faults.append(502)
    bot.run_jobs()
    bot.run_due_jobs(at=time.time() + 30)
    assert len(github.created) == 1  # within the settle time: it waits for the search
    clock.advance(minutes=6)
    bot.run_due_jobs(at=time.time() + 120)
    assert [issue["title"] for issue in github.created] == [
        "[INC-1] Cache the provider list",
        "[INC-1] Alert on empty caches",
    ]


def test_actions_lists_each_items_issues_and_the_button_exports(bot_factory: Any, github: FakeGitHub) -> None:
    bot = bot_factory(**github_settings(github))
    channel = declare(bot, "declare sev3 Slow enrichment")
    bot.slack.command("actions", channel_id=channel.id)
    bot.fake.wait_until(lambda: any("INC-1 has no action items yet" in t for t in ephemeral_texts(bot)))
    add_actions(bot, channel, "Cache the provider list <@U0BOB0001> 2026-12-03")
    bot.slack.command("actions", channel_id=channel.id)
    listed = bot.fake.wait_until(
        lambda: next((r for r in bot.fake.responses if r.get("text") == "Action items of INC-1"), None)
    )
    assert "*1.* Cache the provider list · <@U0BOB0001> · due 2026-12-03 · not exported yet" in text_of(listed)
    export = button(listed, "actions.export")
    assert export["text"]["text"] == "Export to GitHub"
    bot.slack.click("actions.export", export["value"], user="U0STRANGER", channel_id=channel.id, message_ts="1.1")
    bot.fake.wait_until(lambda: any("Only members of INC-1's channel may" in t for t in ephemeral_texts(bot)))
    assert github.received == 0
    bot.slack.click("actions.export", export["value"], user=BOB, channel_id=channel.id, message_ts="1.1")
    bot.fake.wait_until(lambda: any("Exporting 1 action item(s)" in t for t in ephemeral_texts(bot)))
    bot.run_jobs()
    assert len(github.created) == 1
    bot.slack.command("actions", channel_id=channel.id)
    again = bot.fake.wait_until(
        lambda: next((r for r in reversed(bot.fake.responses) if "GitHub #1" in text_of(r)), None)
    )
    assert "<https://github.com/acme/ops/issues/1|GitHub #1> open, octocat" in text_of(again)
    assert "actions.export" not in text_of(again)  # every item is in every tracker


def test_closed_in_github_ticks_the_item_says_so_once_and_refuses_what_is_not_signed_or_not_ours(
    tracked_bot: RunningBot, github: FakeGitHub
) -> None:
    channel = declare(tracked_bot, "declare sev2 Rate limits")
    add_actions(tracked_bot, channel, "Fix the validator <@U0BOB0001> 2026-12-01")
    resolve(tracked_bot, channel)
    tracked_bot.run_jobs()
    url = webhook_url(tracked_bot, GITHUB_WEBHOOK_PATH)
    body, event = github.change(1, "assigned", "octocat", assignee="octocat")  # the bot's own assignment, echoed
    assert deliver_github(url, body, event, GITHUB_SECRET) == 200
    assert not [line for line in action_entries(tracked_bot) if "assigned" in line]

    body, event = github.change(1, "closed", "octocat")
    assert deliver_github(url, body, event, None) == 401
    assert deliver_github(url, body, event, "not-the-secret-at-all") == 401
    assert deliver_github(url, body, event, GITHUB_SECRET, delivery="d-1") == 200
    assert deliver_github(url, body, event, GITHUB_SECRET, delivery="d-1") == 200  # a replay changes nothing
    assert [line for line in action_entries(tracked_bot) if "closed" in line] == [
        "Action item 1 (GitHub #1): closed by octocat in GitHub"
    ]
    tracked_bot.run_jobs()
    tracked_bot.fake.wait_until(
        lambda: any(":white_check_mark: Action item 1" in line for line in thread_lines(tracked_bot, channel))
    )
    assert sum(":white_check_mark:" in line for line in thread_lines(tracked_bot, channel)) == 1
    draft = next(iter(tracked_bot.fake.canvases.values()))["markdown"]
    items = draft.split("## 7. Action items")[1].split("## 8.")[0]
    assert "| ✅ Fix the validator |" in items and "[GitHub #1](https://github.com/acme/ops/issues/1) done" in items
    assert "by octocat" in items

    stranger, event = github.change(1, "reopened", "mallory")
    foreign = stranger.replace(b'"acme/ops"', b'"mallory/other"')
    assert deliver_github(url, foreign, event, GITHUB_SECRET) == 404
    github.issues[99] = {**github.issues[1], "number": 99}
    other, event = github.change(99, "closed", "octocat")
    assert deliver_github(url, other, event, GITHUB_SECRET) == 404  # not one of ours
    assert deliver_github(url, b"{}", "ping", GITHUB_SECRET) == 200


def test_done_in_jira_by_status_category_and_a_new_due_date(tracked_bot: RunningBot, jira: FakeJira) -> None:
    channel = declare(tracked_bot, "declare sev2 Rate limits")
    add_actions(tracked_bot, channel, "Fix the validator <@U0BOB0001> 2026-12-01")
    resolve(tracked_bot, channel)
    tracked_bot.run_jobs()
    url = webhook_url(tracked_bot, JIRA_WEBHOOK_PATH)
    body = jira.transition("OPS-1", done=False, by="Bob Builder", duedate="2026-12-08")
    assert deliver_jira(url, body, None) == 401
    assert deliver_jira(url, body, JIRA_SECRET) == 200
    assert action_entries(tracked_bot)[-1] == "Action item 1 (Jira OPS-1): due 2026-12-08 in Jira"
    body = jira.transition("OPS-1", done=True, by="Bob Builder")
    assert deliver_jira(url, body, JIRA_SECRET) == 200
    assert action_entries(tracked_bot)[-1] == "Action item 1 (Jira OPS-1): closed by Bob Builder in Jira"
    listed = tracked_bot.services.tracking.items(1).items[0]
    jira_issue = next(issue for issue in listed.issues if issue.tracker == "Jira")
    assert jira_issue.done and jira_issue.due is not None and jira_issue.due.isoformat() == "2026-12-08"


def test_a_tracker_that_refuses_is_said_once_and_the_item_stays_queued(
    bot_factory: Any, github: FakeGitHub, jira: FakeJira
) -> None:
    bot = bot_factory(
        **{**github_settings(github), "github_token": "ghp_wrong"},
        **{**jira_settings(jira), "jira_project_key": "NOPE"},
    )
    channel = declare(bot, "declare sev3 Slow enrichment")
    add_actions(bot, channel, "Cache the provider list", "Alert on empty caches")
    bot.slack.command("actions export", channel_id=channel.id)
    bot.wait_quiet()
    assert bot.run_jobs() == 0  # refused: not retried
    bot.fake.wait_until(lambda: len(thread_lines(bot, channel)) == 2)
    lines = thread_lines(bot, channel)
    assert any("GitHub refused to answer (Bad credentials)" in line for line in lines)
    assert any(
        "Jira refused to answer (The value 'NOPE' does not exist for the field 'project'.)" in line for line in lines
    )
    bot.slack.command("actions", channel_id=channel.id)
    listed = bot.fake.wait_until(
        lambda: next((r for r in reversed(bot.fake.responses) if "not exported yet" in text_of(r)), None)
    )
    assert ":warning: GitHub: GitHub refused to answer (Bad credentials)" in text_of(listed)
    assert "Export to GitHub and Jira" in text_of(listed)


def test_a_rate_limited_tracker_is_tried_again_and_makes_one_issue(bot_factory: Any, github: FakeGitHub) -> None:
    bot = bot_factory(**github_settings(github))
    channel = declare(bot, "declare sev3 Slow enrichment")
    add_actions(bot, channel, "Cache the provider list")
    github.fail(429, 403)
    bot.slack.command("actions export", channel_id=channel.id)
    bot.wait_quiet()
    bot.run_jobs()
    assert github.created == []
    bot.run_due_jobs(at=time.time() + 30)  # 403 with the rate limit spent: later again
    assert github.created == []
    bot.run_due_jobs(at=time.time() + 120)
    assert len(github.created) == 1


def test_a_private_incidents_items_carry_no_words(bot_factory: Any, github: FakeGitHub, jira: FakeJira) -> None:
    bot = bot_factory(**github_settings(github), **jira_settings(jira))
    channel = declare(bot, "declare --private sev3 Quokka exfiltration")
    add_actions(bot, channel, "Rotate the Quokka credentials")
    bot.slack.command("actions export", channel_id=channel.id)
    bot.wait_quiet()
    bot.run_jobs()
    assert github.created[0]["title"] == "[INC-1] action item 1 (private incident)"
    assert "Quokka" not in github.created[0]["body"] and "Quokka" not in str(jira.created[0])


def test_the_operator_may_let_private_items_carry_their_words(bot_factory: Any, github: FakeGitHub) -> None:
    allowed = bot_factory(**github_settings(github), tracker_private_incidents=True)
    channel = declare(allowed, "declare --private sev3 Quokka exfiltration")
    add_actions(allowed, channel, "Rotate the Quokka credentials")
    allowed.slack.command("actions export", channel_id=channel.id)
    allowed.wait_quiet()
    allowed.run_jobs()
    assert github.created[-1]["title"] == "[INC-1] Rotate the Quokka credentials"


def test_fields_a_tracker_will_not_take_are_written_in_the_issue_instead(
    bot_factory: Any, github: FakeGitHub, jira: FakeJira
) -> None:
    bot = bot_factory(
        **{**github_settings(github), "github_users": "U0BOB0001=not-a-collaborator"}, **jira_settings(jira)
    )
    jira.screen.discard("duedate")
    channel = declare(bot, "declare sev3 Slow enrichment")
    add_actions(bot, channel, "Cache the provider list <@U0BOB0001> 2026-12-03")
    bot.slack.command("actions export", channel_id=channel.id)
    bot.wait_quiet()
    assert bot.run_jobs() == 0
    issue = github.created[0]
    assert issue["assignee"] is None and "Owner on GitHub: @not-a-collaborator" in issue["body"]
    fields = jira.created[0]["fields"]
    assert fields["duedate"] is None
    paragraphs = [p["content"][0]["text"] for p in fields["description"]["content"]]
    assert "Due: 2026-12-03 (this project's screen takes no due date)" in paragraphs


def test_overdue_items_get_one_digest_a_day(bot_factory: Any, github: FakeGitHub, clock: Any) -> None:
    bot = bot_factory(**github_settings(github), action_item_reminders="09:00")
    channel = declare(bot, "declare sev3 Slow enrichment")
    add_actions(bot, channel, "Cache the provider list <@U0BOB0001> 2026-11-24", "Later <@U0CAROL01> 2026-12-30")
    bot.slack.command("actions export", channel_id=channel.id)
    bot.wait_quiet()
    bot.run_jobs()
    clock.advance(hours=19, minutes=1)  # 09:01 the next day
    bot.run_due_jobs()
    digest = bot.fake.wait_until(
        lambda: next(
            (m for m in channel.messages.values() if "Overdue action items of INC-1" in m.get("text", "")), None
        )
    )
    assert "Cache the provider list" in text_of(digest) and "Later" not in text_of(digest)
    body, event = github.change(1, "closed", BOB)
    assert deliver_github(webhook_url(bot, GITHUB_WEBHOOK_PATH), body, event, GITHUB_SECRET) == 200
    clock.advance(days=1)
    bot.run_due_jobs()
    bot.wait_quiet()
    digests = [m for m in channel.messages.values() if "Overdue action items" in m.get("text", "")]
    assert [text_of(m) for m in digests[1:]] == []  # done since: nothing overdue the next day
