"""The first five minutes and the playbooks, driven by clicks over HTTP against the fake Slack."""

from __future__ import annotations

import json
import threading
from typing import Any

from bot.core.timeline import EntryKind
from bot.render.modals import SKIP_CALLBACK
from tests.conftest import RunningBot, step_state
from tests.driver import (
    ALICE,
    BOB,
    button,
    buttons,
    click,
    declare,
    ephemeral_texts,
    message,
    posted,
    text_of,
)
from tests.fakes.slack import Channel


def step_entries(bot: RunningBot, channel: Channel) -> list[str]:
    incident = bot.services.incidents.in_channel(channel.id)
    assert incident is not None
    return [e.text for e in bot.services.timeline.entries(incident.number) if e.kind is EntryKind.STEP]


def test_checklist_and_picker_follow_the_header(bot: RunningBot) -> None:
    channel = declare(bot)
    header, checklist, picker = (channel.messages[ts] for ts in sorted(channel.messages))
    assert header["ts"] in channel.pins
    assert "First five minutes" in text_of(checklist)
    for title in ("Confirm scope", "Snapshot state", "Check vendor status", "Decide kill-switch posture"):
        assert title in text_of(checklist)
    # without Salesforce the exact query is shown, copyable (escaped for mrkdwn), with what is missing
    soql = (
        "SELECT Status__c, COUNT(Id) c FROM PipelineExecution__c WHERE LastModifiedDate &gt;= 2026-11-25T13:00:00+00:00"
        " AND LastModifiedDate &lt; 2026-11-25T14:00:00+00:00 GROUP BY Status__c"
    )
    assert soql in text_of(checklist)
    assert "Salesforce is not connected: run this by hand (`sf data query`), then mark it done." in text_of(checklist)
    assert "System.abortJob(ct.Id)" in text_of(checklist)  # the kill-switch posture lists the switches
    assert "Pick the playbook" in text_of(picker)


def test_done_updates_the_checklist_in_place_and_a_second_click_is_told_who(bot: RunningBot) -> None:
    channel = declare(bot)
    checklist = message(bot, channel, "first-five")
    done_value = button(checklist, "step.done", "vendor-status")["value"]
    posts_before = len(bot.fake.calls_to("chat.postMessage"))
    click(bot, channel, checklist, "step.done", "vendor-status")
    bot.fake.wait_until(lambda: "_Done by <@U0ALICE01> at 14:00_" in text_of(checklist))
    assert len(bot.fake.calls_to("chat.postMessage")) == posts_before  # updated, never re-posted
    assert bot.fake.calls_to("chat.update")[-1].args["ts"] == checklist["ts"]

    bot.clock.advance(minutes=3)
    bot.slack.click("step.done", done_value, user=BOB, channel_id=channel.id, message_ts=checklist["ts"])
    bot.fake.wait_until(lambda: any("already done" in t for t in ephemeral_texts(bot)))
    assert "“Check vendor status (if LLM-related)” was already done by <@U0ALICE01> at 14:00." in ephemeral_texts(bot)
    assert step_entries(bot, channel) == ["“Check vendor status (if LLM-related)” done"]


def test_skip_asks_for_a_reason_and_na_needs_none(bot: RunningBot) -> None:
    channel = declare(bot)
    checklist = message(bot, channel, "first-five")
    click(bot, channel, checklist, "step.skip", "confirm-scope")
    view = bot.fake.wait_until(lambda: bot.fake.open_views(SKIP_CALLBACK))[-1]
    assert "Confirm scope" in json.dumps(view["blocks"])
    empty = bot.slack.submit(view, {"reason": "   "})
    assert empty.json() == {"response_action": "errors", "errors": {"reason": "Say why, in at most 500 characters."}}
    assert bot.slack.submit(view, {"reason": "dashboard already open <!here>"}).text == ""
    bot.fake.wait_until(lambda: "Skipped by" in text_of(checklist))
    assert "_Skipped by <@U0ALICE01> at 14:00: dashboard already open &lt;!here&gt;_" in text_of(checklist)

    click(bot, channel, checklist, "step.na", "vendor-status")
    bot.fake.wait_until(lambda: "Not applicable by" in text_of(checklist))
    assert step_entries(bot, channel) == [
        "“Confirm scope” skipped: dashboard already open <!here>",
        "“Check vendor status (if LLM-related)” marked not applicable",
    ]


def test_picker_suggests_from_the_declaration_and_starts_playbooks(bot: RunningBot) -> None:
    channel = declare(bot, "declare --llm sev2 Anthropic 5xx on all pipelines")
    picker = message(bot, channel, "picker")
    assert "Suggested from the declaration: *1. Provider outage*, *2. Rate-limit storm*" in text_of(picker)
    click(bot, channel, picker, "playbook.pick:provider-outage")
    diagnose = message(bot, channel, "provider-outage/diagnose")  # the runbook's order: diagnose first
    assert "Playbook 1 · Provider outage*: Diagnose (1 of 3)" in text_of(diagnose)
    assert "Symptoms: All LLM stages return errors" in text_of(diagnose)
    bot.fake.wait_until(lambda: "Running: 1. Provider outage" in text_of(picker))

    # picking the same again is refused; `/incident playbook 4` starts a second one
    bot.slack.click(
        "playbook.pick",
        '{"incident":1,"playbook":"provider-outage"}',
        user=BOB,
        channel_id=channel.id,
        message_ts=picker["ts"],
    )
    bot.fake.wait_until(lambda: any("already running" in t for t in ephemeral_texts(bot)))
    bot.slack.command("playbook 4", channel_id=channel.id)
    assert "Suspected prompt injection" in text_of(message(bot, channel, "prompt-injection/discovery"))
    bot.fake.wait_until(lambda: "Running: 1. Provider outage, 4. Suspected prompt injection" in text_of(picker))


def test_playbook_command_outside_an_incident_and_with_an_unknown_key(bot: RunningBot) -> None:
    bot.slack.command("playbook 1", channel_id="C0GENERAL")
    bot.fake.wait_until(lambda: "Use `/incident playbook` in an incident channel." in ephemeral_texts(bot))
    channel = declare(bot)
    bot.slack.command("playbook teleport", channel_id=channel.id)
    bot.fake.wait_until(lambda: any(t.startswith("There is no playbook `teleport`") for t in ephemeral_texts(bot)))
    bot.slack.command("playbook", channel_id=channel.id)
    bot.fake.wait_until(lambda: any("`4` / `prompt-injection`" in t for t in ephemeral_texts(bot)))


def test_decisions_reveal_their_branch_and_phases_follow(bot: RunningBot) -> None:
    channel = declare(bot)
    bot.slack.command("playbook rate-limit-storm", channel_id=channel.id)
    discovery = message(bot, channel, "rate-limit-storm/discovery")
    assert "Next phase: Diagnose" in text_of(discovery)
    click(bot, channel, discovery, "step.done", "rate-limit-by-actor")
    diagnose = message(bot, channel, "rate-limit-storm/diagnose")  # posted once discovery was complete
    bot.fake.wait_until(lambda: "Next phase" not in text_of(discovery))
    assert "Investigate the account" not in text_of(diagnose)
    click(bot, channel, diagnose, "step.choose:one-user", "storm-source")
    bot.fake.wait_until(lambda: "Investigate the account" in text_of(diagnose))
    assert "Chosen: *One specific user*" in text_of(diagnose)
    assert "Lock the user out of Org Chat" in text_of(diagnose)
    assert "Take the capped provider out of rotation" not in text_of(diagnose)
    assert [b["action_id"] for b in buttons(diagnose)].count("step.done") == 2  # the two revealed steps
    click(bot, channel, diagnose, "step.done", "investigate-account", user=BOB)
    bot.fake.wait_until(lambda: "Done by <@U0BOB0001>" in text_of(diagnose))
    assert "“Where does the storm come from?”: chose One specific user" in step_entries(bot, channel)


def test_next_phase_button_posts_the_next_phase_once(bot: RunningBot) -> None:
    channel = declare(bot)
    bot.slack.command("playbook 1", channel_id=channel.id)
    diagnose = message(bot, channel, "provider-outage/diagnose")
    click(bot, channel, diagnose, "phase.next")
    contain = message(bot, channel, "provider-outage/contain")
    assert "Set the provider fallback chain" in text_of(contain)
    bot.fake.wait_until(lambda: "Next phase" not in text_of(diagnose))
    bot.slack.click(
        "phase.next",
        button(contain, "phase.next")["value"].replace("recover", "contain"),
        channel_id=channel.id,
        message_ts=diagnose["ts"],
    )
    bot.fake.wait_until(lambda: "That phase is already posted below." in ephemeral_texts(bot))


def test_next_phase_naming_a_phase_the_playbook_lacks_is_refused(bot: RunningBot) -> None:
    channel = declare(bot)
    bot.slack.command("playbook 1", channel_id=channel.id)
    diagnose = message(bot, channel, "provider-outage/diagnose")
    forged = button(diagnose, "phase.next")["value"].replace("contain", "post-mortem")
    bot.slack.click("phase.next", forged, channel_id=channel.id, message_ts=diagnose["ts"])
    bot.fake.wait_until(
        lambda: "Playbook 1. Provider outage has no post-mortem phase." in ephemeral_texts(bot) and ephemeral_texts(bot)
    )
    bot.wait_quiet()
    assert [name for name in posted(bot, 1) if name.startswith("provider-outage/")] == ["provider-outage/diagnose"]
    assert "Next phase" in text_of(channel.messages[diagnose["ts"]])


def test_concurrent_clicks_change_the_state_once(bot: RunningBot) -> None:
    channel = declare(bot)
    checklist = message(bot, channel, "first-five")
    value = button(checklist, "step.done", "vendor-status")["value"]
    users = [f"U0RACER{i:02d}" for i in range(12)]
    channel.members.update(users)
    barrier = threading.Barrier(len(users))

    def race(user: str) -> None:
        barrier.wait()
        bot.slack.click("step.done", value, user=user, channel_id=channel.id, message_ts=checklist["ts"])

    threads = [threading.Thread(target=race, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.fake.wait_until(lambda: sum("already done" in t for t in ephemeral_texts(bot)) == len(users) - 1)
    assert step_entries(bot, channel) == ["“Check vendor status (if LLM-related)” done"]
    winner = step_state(bot, "first-five", "vendor-status").by
    assert winner in users and f"Done by <@{winner}>" in text_of(checklist)


def test_a_button_from_another_channel_is_refused(bot: RunningBot) -> None:
    channel = declare(bot)
    checklist = message(bot, channel, "first-five")
    value = button(checklist, "step.done", "vendor-status")["value"]
    other = bot.fake.add_channel("random", members={ALICE})
    other_message = bot.fake.user_message(other.id, ALICE, "hi")
    bot.slack.click("step.done", value, channel_id=other.id, message_ts=other_message["ts"])
    bot.fake.wait_until(lambda: "That button belongs to INC-1's channel." in ephemeral_texts(bot))
    bot.slack.click("step.done", "not-a-target", channel_id=channel.id, message_ts=checklist["ts"])
    bot.fake.wait_until(lambda: any("not one of mine" in t for t in ephemeral_texts(bot)))
    assert step_entries(bot, channel) == []


def test_the_link_step_uses_the_configured_url(bot_factory: Any) -> None:
    bot = bot_factory(inventory_harvester_runbook_url="https://wiki.example.com/harvester#f1")
    channel = declare(bot)
    bot.slack.command("playbook inventory-harvester", channel_id=channel.id)
    discovery = message(bot, channel, "inventory-harvester/discovery")
    assert button(discovery, "step.link")["url"] == "https://wiki.example.com/harvester#f1"
