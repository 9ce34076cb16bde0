"""The timeline as it happens and the post-mortem draft written from it, driven over HTTP."""

from __future__ import annotations

import re
import time
from typing import Any

from bot.core.timeline import EntryKind
from bot.render.modals import DONE_BY_HAND_CALLBACK, RESOLVE_CALLBACK, SKIP_CALLBACK
from tests.conftest import RunningBot, run_cli
from tests.driver import (
    ALICE,
    BOB,
    CAROL,
    approve,
    click,
    declare,
    ephemeral_texts,
    incident_channel,
    message,
    open_phase,
    request,
    state,
    submit_run_modal,
    text_of,
    wait_settled,
)
from tests.fakes.salesforce import BOT_USER_ID, SUSPECT_USER_ID
from tests.fakes.slack import Channel


def event(bot: RunningBot, body: dict[str, Any]) -> None:
    assert bot.slack.event({"event_ts": f"{time.time():.6f}", **body}).status_code == 200


def react(bot: RunningBot, channel: Channel, ts: str, user: str, added: bool = True) -> None:
    event(
        bot,
        {
            "type": "reaction_added" if added else "reaction_removed",
            "user": user,
            "reaction": "pushpin",
            "item_user": ALICE,
            "item": {"type": "message", "channel": channel.id, "ts": ts},
        },
    )


def pin(bot: RunningBot, channel: Channel, msg: dict[str, Any], user: str, added: bool = True) -> None:
    event(
        bot,
        {
            "type": "pin_added" if added else "pin_removed",
            "user": user,
            "channel_id": channel.id,
            "item": {"type": "message", "channel": channel.id, "message": msg, "created_by": user},
        },
    )


def edit(bot: RunningBot, channel: Channel, msg: dict[str, Any], text: str) -> None:
    msg["text"] = text
    event(
        bot,
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": channel.id,
            "hidden": True,
            "message": {"type": "message", "user": msg["user"], "text": text, "ts": msg["ts"]},
            "previous_message": {"type": "message", "user": msg["user"], "ts": msg["ts"]},
        },
    )


def delete(bot: RunningBot, channel: Channel, msg: dict[str, Any]) -> None:
    del channel.messages[msg["ts"]]
    event(
        bot,
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": channel.id,
            "hidden": True,
            "deleted_ts": msg["ts"],
            "previous_message": {"type": "message", "ts": msg["ts"]},
        },
    )


def entries(bot: RunningBot, number: int = 1) -> list[tuple[str, str, str | None]]:
    return [(f"{e.at:%H:%M}", e.kind.value, e.text) for e in bot.services.timeline.entries(number)]


def messages_on_timeline(bot: RunningBot) -> list[str]:
    return [text for _, kind, text in entries(bot) if kind == "message"]


def test_pins_reactions_edits_and_deletes_shape_the_timeline(bot: RunningBot) -> None:
    channel = declare(bot)
    bot.clock.advance(minutes=2)
    first = bot.fake.user_message(channel.id, ALICE, "Anthropic returns 529 for every call")
    bot.clock.advance(minutes=5)  # reacted to later: the entry keeps the post time
    react(bot, channel, first["ts"], BOB)
    bot.fake.wait_until(lambda: messages_on_timeline(bot))
    captured = next(e for e in bot.services.timeline.entries(1) if e.kind is EntryKind.MESSAGE)
    assert (f"{captured.at:%H:%M}", captured.actor, captured.text) == (
        "14:02",
        ALICE,
        "Anthropic returns 529 for every call",
    )
    assert captured.permalink and captured.permalink.startswith("https://fake.slack.com/archives/")

    react(bot, channel, first["ts"], CAROL)  # a second :pushpin: adds nothing
    react(bot, channel, first["ts"], BOB, added=False)  # one of two removed: still captured
    time.sleep(0.2)
    assert messages_on_timeline(bot) == ["Anthropic returns 529 for every call"]
    react(bot, channel, first["ts"], CAROL, added=False)  # the last one removed: gone
    bot.fake.wait_until(lambda: messages_on_timeline(bot) == [])

    second = bot.fake.user_message(channel.id, BOB, "Rolling back deploy 4411")
    pin(bot, channel, second, CAROL)
    bot.fake.wait_until(lambda: messages_on_timeline(bot) == ["Rolling back deploy 4411"])
    edit(bot, channel, second, "Rolled back deploy 4411")
    bot.fake.wait_until(lambda: messages_on_timeline(bot) == ["Rolled back deploy 4411"])
    captured = next(e for e in bot.services.timeline.entries(1) if e.kind is EntryKind.MESSAGE)
    assert f"{captured.at:%H:%M}" == "14:07"  # the edit keeps the post time
    delete(bot, channel, second)
    bot.fake.wait_until(lambda: messages_on_timeline(bot) == [])

    third = bot.fake.user_message(channel.id, BOB, "Pinned then unpinned")
    pin(bot, channel, third, CAROL)
    bot.fake.wait_until(lambda: messages_on_timeline(bot) == ["Pinned then unpinned"])
    pin(bot, channel, third, CAROL, added=False)
    bot.fake.wait_until(lambda: messages_on_timeline(bot) == [])


def test_a_pushpin_on_a_thread_reply_captures_the_reply(bot: RunningBot) -> None:
    channel = declare(bot)
    parent = bot.fake.user_message(channel.id, ALICE, "Who changed FM_Config?")
    bot.clock.advance(minutes=1)
    reply = bot.fake.user_message(channel.id, BOB, "Me: defaultProvider to openai at 14:01", thread_ts=parent["ts"])
    assert reply["ts"] not in [m["ts"] for m in bot.fake.m_conversations_history({"channel": channel.id})["messages"]]
    react(bot, channel, reply["ts"], CAROL)
    bot.fake.wait_until(lambda: messages_on_timeline(bot) == ["Me: defaultProvider to openai at 14:01"])
    captured = next(e for e in bot.services.timeline.entries(1) if e.kind is EntryKind.MESSAGE)
    assert (captured.actor, f"{captured.at:%H:%M}") == (BOB, "14:01")


def test_the_bots_own_pin_of_the_header_is_not_captured(bot: RunningBot) -> None:
    channel = declare(bot)
    header = channel.messages[next(iter(channel.pins))]
    pin(bot, channel, header, "U0BOT0001")
    time.sleep(0.3)
    assert messages_on_timeline(bot) == []


def test_milestones_refuse_the_wrong_order(bot: RunningBot) -> None:
    channel = declare(bot)
    for text, sentence in (
        ("signal 14:30", "The first signal time (14:30) cannot come after the declared time (14:00)."),
        ("signal 25:00", "`25:00` is not a time of day."),
        ("signal soon", "`soon` is not a time: use HH:MM, e.g. 14:02, or YYYY-MM-DD HH:MM."),
    ):
        bot.slack.command(text, channel_id=channel.id)
        bot.fake.wait_until(lambda sentence=sentence: sentence in ephemeral_texts(bot))
    bot.slack.command("signal 13:52", channel_id=channel.id)
    bot.fake.wait_until(lambda: any(t.startswith("First signal set to 2026-11-25 13:52") for t in ephemeral_texts(bot)))
    bot.slack.command("mitigated 13:50", channel_id=channel.id)
    bot.fake.wait_until(
        lambda: "The mitigated time (13:50) cannot come before the first signal time (13:52)." in ephemeral_texts(bot)
    )
    bot.clock.advance(minutes=20)
    bot.slack.command("mitigated", channel_id=channel.id)
    bot.fake.wait_until(lambda: any(t.startswith("Mitigated set to 2026-11-25 14:20") for t in ephemeral_texts(bot)))
    incident = bot.services.incidents.in_channel(channel.id)
    assert incident is not None and f"{incident.mitigated_at:%H:%M}" == "14:20"
    assert ("13:52", "milestone", "First signal") in entries(bot)


def test_timeline_is_posted_in_the_channel_and_paged(bot: RunningBot) -> None:
    channel = declare(bot)
    for index in range(20):  # one minute apart: each note is recorded before the clock moves on
        bot.clock.advance(minutes=1)
        bot.slack.command(f"note step {index:02d} <!channel>", channel_id=channel.id)
        bot.fake.wait_until(lambda: sum(1 for _, kind, _ in entries(bot) if kind == "note") == index + 1)  # noqa: B023
    bot.slack.command("timeline", channel_id=channel.id)
    posted = bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if "Timeline of INC-1" in m.get("text", "")), None)
    )
    assert "page 1 of 2" in posted["text"] and "`14:01` _note_ <@U0ALICE01>: step 00 &lt;!channel&gt;" in text_of(
        posted
    )
    later = next(e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"])
    bot.slack.click("timeline.page", later["value"], user=BOB, channel_id=channel.id, message_ts=posted["ts"])
    bot.fake.wait_until(lambda: "page 2 of 2" in posted["text"])
    assert "step 19" in text_of(posted)


def drive_a_full_incident(bot: RunningBot) -> Channel:
    """Declared 14:00, first signal 13:52, a pinned message, a note, a skip, an approved switch, a resolve."""
    channel = incident_channel(bot, "declare sev1 Org Chat leaks data")
    bot.slack.command("signal 13:52", channel_id=channel.id)
    bot.clock.advance(minutes=2)
    seen = bot.fake.user_message(channel.id, CAROL, "Customer reports seeing other accounts | in Org Chat")
    react(bot, channel, seen["ts"], BOB)
    bot.clock.advance(minutes=1)
    bot.slack.command("note Suspect user found in FM_Run_Audit__c", channel_id=channel.id)
    checklist = message(bot, channel, "first-five")
    click(bot, channel, checklist, "step.skip", "vendor-status")
    view = bot.fake.wait_until(lambda: bot.fake.open_views(SKIP_CALLBACK))[-1]
    bot.slack.submit(view, {"reason": "not provider related"})
    bot.clock.advance(minutes=3)  # 14:06
    approval, card = request(bot, channel, "org-chat-off")
    bot.clock.advance(minutes=2)  # 14:08
    approve(bot, channel, card, approval)
    bot.run_jobs()
    bot.slack.command("action Add an alert on LIMIT 9999 turns <@U0BOB0001|bob> 2026-12-05", channel_id=channel.id)
    bot.slack.command("action Review Org Chat validator", channel_id=channel.id)
    bot.fake.wait_until(lambda: len(bot.services.incidents.store.actions(1)) == 2)
    bot.clock.advance(minutes=32)  # 14:40
    bot.slack.command("resolve", channel_id=channel.id)
    resolve = bot.fake.wait_until(lambda: bot.fake.open_views(RESOLVE_CALLBACK))[-1]
    refused = bot.slack.submit(resolve, {"root_cause": "  "})
    assert refused.json()["errors"] == {"root_cause": "SEV-1 and SEV-2 need the root cause, in one sentence."}
    bot.slack.submit(
        resolve,
        {
            "root_cause": "A prompt injection made Org Chat run SOQL with LIMIT 9999.",
            "customer_impact": "One customer saw another account's contacts.",
            "lessons": "Alert on huge Org Chat queries.",
        },
    )
    return channel


def sections(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("## ")]


def test_resolve_writes_the_post_mortem_section_by_section(sf_bot: RunningBot) -> None:
    channel = drive_a_full_incident(sf_bot)
    canvas = sf_bot.fake.wait_until(lambda: next(iter(sf_bot.fake.canvases.values()), None))
    markdown = canvas["markdown"]
    assert canvas["channel"] == channel.id
    assert sections(markdown) == [
        "## 1. Timeline",
        "## 2. Root cause",
        "## 3. Detection",
        "## 4. Mitigation",
        "## 5. Recovery",
        "## 6. Customer impact",
        "## 7. Action items",
        "## 8. Lessons learned",
    ]
    timeline = markdown.split("## 1. Timeline")[1].split("## 2.")[0]
    rows = [line for line in timeline.splitlines() if re.match(r"\| T[+-]\d", line)]
    assert rows[0] == "| T+00 | 13:52 | ![](@U0ALICE01) | First signal |"
    assert "(T+minutes from the first signal)" in timeline
    assert "| T+08 | 14:00 | ![](@U0ALICE01) | INC-1 declared: SEV-1 Org Chat leaks data |" in rows
    assert any(
        r.startswith("| T+10 | 14:02 | ![](@U0CAROL01) | Customer reports seeing other accounts \\| in Org Chat")
        for r in rows
    )
    assert "| T+11 | 14:03 | ![](@U0ALICE01) | Suspect user found in FM_Run_Audit__c |" in rows
    assert (
        "| T+11 | 14:03 | ![](@U0ALICE01) | “Check vendor status (if LLM-related)” skipped: not provider related |"
        in rows
    )
    assert any("| T+16 | 14:08 | ![](@U0BOB0001) | approved by U0BOB0001" in r for r in rows)
    assert rows[-1] == "| T+48 | 14:40 | ![](@U0ALICE01) | INC-1 resolved |"
    assert "A prompt injection made Org Chat run SOQL with LIMIT 9999." in markdown.split("## 2. Root cause")[1]
    assert "Time to detect: 8 min." in markdown.split("## 3. Detection")[1]
    mitigation = markdown.split("## 4. Mitigation")[1].split("## 5.")[0]
    assert (
        "| orgChatSurfacesEnabled = none (Org Chat completely off) | ![](@U0ALICE01) at 2026-11-25 14:06: "
        "scope unclear, stop the bleeding | approved by ![](@U0BOB0001) at 2026-11-25 14:08 | executed"
    ) in mitigation
    assert "| verified: read back orgChatSurfacesEnabled__c = none |" in mitigation
    head = sf_bot.services.audit.head(1).short
    assert (
        f"Written from the audit trail at head `{head}`: `incident-bot audit verify 1 --expect {head}` checks that it "
        "still holds these entries."
    ) in mitigation
    recovery = markdown.split("## 5. Recovery")[1].split("## 6.")[0]
    assert "- Mitigated: 2026-11-25 14:08 (time to mitigate: 16 min)" in recovery  # the verified containment
    assert "- Resolved, normal service: 2026-11-25 14:40 (time to resolve: 48 min)" in recovery
    impact = markdown.split("## 6. Customer impact")[1].split("## 7.")[0]
    assert "Failed pipeline executions in the snapshot (2026-11-25 13:00 to 14:00): 12 of 42." in impact
    assert "One customer saw another account's contacts." in impact
    actions = markdown.split("## 7. Action items")[1].split("## 8.")[0]
    assert "| Add an alert on LIMIT 9999 turns | ![](@U0BOB0001) | 2026-12-05 |  |" in actions
    assert "| Review Org Chat validator | — | — | ⚠ no owner, no due date |" in actions
    assert "Alert on huge Org Chat queries." in markdown.split("## 8. Lessons learned")[1]

    # again: the same canvas is rewritten, never a second one
    sf_bot.slack.command("postmortem", channel_id=channel.id)
    sf_bot.fake.wait_until(lambda: canvas["edits"] == 1)
    assert len(sf_bot.fake.canvases) == 1
    assert "is written to the channel canvas" in sf_bot.fake.wait_until(
        lambda: next((t for t in ephemeral_texts(sf_bot) if "post-mortem draft" in t), None)
    )


def test_without_canvases_the_draft_is_a_markdown_file_replaced_in_place(bot: RunningBot) -> None:
    bot.fake.canvases_allowed = False
    channel = declare(bot, "declare sev2 Rate limits everywhere")
    bot.clock.advance(minutes=30)
    bot.slack.command("resolve", channel_id=channel.id)
    view = bot.fake.wait_until(lambda: bot.fake.open_views(RESOLVE_CALLBACK))[-1]
    bot.slack.submit(view, {"root_cause": "Vendor caps were too low."})

    def drafts() -> list[dict[str, Any]]:
        return [f for f in bot.fake.files.values() if f["name"] == "inc-1-postmortem.md" and f["channels"]]

    first = bot.fake.wait_until(lambda: drafts())[0]
    assert first["content"].decode().startswith("# Post-mortem: INC-1 Rate limits everywhere")
    assert "Commander: @U0ALICE01." in first["content"].decode()
    bot.slack.command("postmortem", channel_id=channel.id)
    bot.fake.wait_until(lambda: drafts() and drafts()[0]["id"] != first["id"])
    assert len(drafts()) == 1  # the old file was deleted: no duplicates
    bot.fake.wait_until(
        lambda: any("a Markdown file (this workspace does not allow canvases)" in t for t in ephemeral_texts(bot))
    )


def test_sev3_is_written_only_on_demand(bot: RunningBot) -> None:
    channel = declare(bot, "declare sev3 Slow dashboard")
    bot.slack.command("resolve", channel_id=channel.id)
    view = bot.fake.wait_until(lambda: bot.fake.open_views(RESOLVE_CALLBACK))[-1]
    assert bot.slack.submit(view, {}).text == ""  # no root cause needed for a SEV-3
    bot.fake.wait_until(lambda: any("INC-1 is resolved" in t for t in ephemeral_texts(bot)))
    assert bot.fake.canvases == {}
    bot.slack.command("postmortem", channel_id=channel.id)
    bot.fake.wait_until(lambda: bot.fake.canvases)
    header = channel.messages[next(iter(channel.pins))]
    assert "Resolved" in text_of(header)


def test_resolved_incidents_refuse_changes(bot: RunningBot) -> None:
    channel = declare(bot, "declare sev3 Done soon")
    bot.slack.command("resolve", channel_id=channel.id)
    view = bot.fake.wait_until(lambda: bot.fake.open_views(RESOLVE_CALLBACK))[-1]
    bot.slack.submit(view, {})
    bot.fake.wait_until(lambda: any("INC-1 is resolved" in t for t in ephemeral_texts(bot)))
    bot.slack.command("resolve", channel_id=channel.id)
    bot.fake.wait_until(lambda: "INC-1 is resolved; nothing more changes for it." in ephemeral_texts(bot))
    checklist = message(bot, channel, "first-five")
    click(bot, channel, checklist, "step.done", "vendor-status")
    bot.fake.wait_until(lambda: "INC-1 is resolved; nothing more changes for it." in ephemeral_texts(bot))


def test_cli_prints_the_draft(sf_bot: RunningBot) -> None:
    drive_a_full_incident(sf_bot)
    sf_bot.fake.wait_until(lambda: sf_bot.fake.canvases)
    settings = sf_bot.services.settings
    env = {
        "REDIS_URL": settings.redis_url.get_secret_value() if settings.redis_url else "",
        "KEY_PREFIX": settings.key_prefix,
    }
    printed = run_cli("postmortem", "1", env=env)
    assert printed.returncode == 0
    assert printed.stdout.startswith("# Post-mortem: INC-1 Org Chat leaks data")
    assert "| T+00 | 13:52 | @U0ALICE01 | First signal |" in printed.stdout
    missing = run_cli("postmortem", "99", env=env)
    assert (missing.returncode, missing.stderr) == (2, "There is no incident 99.\n")


def test_action_items_need_a_description_and_a_real_date(bot: RunningBot) -> None:
    channel = declare(bot)
    assert bot.slack.command("action <@U0BOB0001|bob>", channel_id=channel.id).text.startswith("Say what the action is")
    assert bot.slack.command("action Fix it 2026-02-30", channel_id=channel.id).text == (
        "`2026-02-30` is not a date: use YYYY-MM-DD."
    )


def test_the_draft_says_what_it_does_not_know_and_names_people_and_steps(sf_bot: RunningBot) -> None:
    channel = incident_channel(sf_bot, "declare --private sev1 Suspected exfiltration")  # no first signal given
    discovery = open_phase(sf_bot, channel, "prompt-injection", "discovery")
    click(sf_bot, channel, discovery, "step.run", "suspect-turns")  # the suspect's turns
    wait_settled(sf_bot, "prompt-injection", "suspect-turns")
    diagnose = open_phase(sf_bot, channel, "prompt-injection", "diagnose")
    click(sf_bot, channel, diagnose, "step.run", "suspect-dml")
    submit_run_modal(sf_bot, {"suspect_user_id": SUSPECT_USER_ID})  # named as the suspect
    wait_settled(sf_bot, "prompt-injection", "suspect-dml")
    contain = open_phase(sf_bot, channel, "prompt-injection", "contain")
    click(sf_bot, channel, contain, "step.done", "revoke-suspect")  # a switch thrown by hand: its rows are audited
    by_hand = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(DONE_BY_HAND_CALLBACK))[-1]
    sf_bot.slack.submit(by_hand, {"reason": "revoked in Setup"})
    sf_bot.fake.wait_until(lambda: state(sf_bot, "prompt-injection", "revoke-suspect").status.value == "done")
    recover = open_phase(sf_bot, channel, "prompt-injection", "recover")
    click(sf_bot, channel, recover, "step.choose:validator-rejected", "finding")
    sf_bot.fake.wait_until(lambda: "User blocked, no data egress" in text_of(recover))
    sf_bot.clock.advance(minutes=5)
    click(sf_bot, channel, recover, "step.done", "retain-logs", user=BOB)
    sf_bot.fake.wait_until(lambda: "Done by <@U0BOB0001>" in text_of(recover))
    sf_bot.slack.command("playbook telemetry", channel_id=channel.id)  # the bot's own test publish
    telemetry = open_phase(sf_bot, channel, "telemetry", "diagnose")
    click(sf_bot, channel, telemetry, "step.run", "test-publish")
    submit_run_modal(sf_bot, {})
    wait_settled(sf_bot, "telemetry", "test-publish")
    click(sf_bot, channel, telemetry, "step.run", "test-row-arrived")
    wait_settled(sf_bot, "telemetry", "test-row-arrived")

    sf_bot.slack.command("resolve", channel_id=channel.id)
    resolve = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(RESOLVE_CALLBACK))[-1]
    sf_bot.slack.submit(resolve, {"root_cause": "The validator held; nothing left the org."})
    markdown = sf_bot.fake.wait_until(lambda: next(iter(sf_bot.fake.canvases.values()), None))["markdown"]

    timeline = markdown.split("## 1. Timeline")[1].split("## 2.")[0]
    assert "(T+minutes from the declaration: the first signal was not recorded)" in timeline
    detection = markdown.split("## 3. Detection")[1].split("## 4.")[0]
    assert detection.startswith("\n\nDeclared by ![](@U0ALICE01) with /incident at 2026-11-25 14:00; the first signal")
    assert "so the time to detect is not known" in detection
    recovery = markdown.split("## 5. Recovery")[1].split("## 6.")[0]
    assert "- First signal: not recorded" in recovery and "(time to detect: not recorded)" in recovery
    mitigation = markdown.split("## 4. Mitigation")[1].split("## 5.")[0]
    assert "- 14:05 User blocked, no data egress. Retain the logs: ![](@U0BOB0001)" in mitigation
    taken = mitigation.split("Steps the responders took to contain and recover:")[1]
    assert "Revoke the suspect's Org Chat permission sets" not in taken  # a kill switch is in the audit rows
    seen = next(line for line in markdown.splitlines() if line.startswith("- Users seen"))
    assert f"{SUSPECT_USER_ID} (suspect)" in seen
    assert BOT_USER_ID not in seen  # the integration user's own test row is not a customer
