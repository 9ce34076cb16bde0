"""Response targets that escalate, roles, status updates and private incidents. Time is moved, never slept."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.timeline import EntryKind
from bot.render.modals import UPDATE_CALLBACK
from tests.conftest import BotServer, RunningBot, settings_for
from tests.driver import ALICE, BOB, CAROL, declare, ephemeral_texts, message, text_of
from tests.fakes.slack import Channel

ONCALL, LEADS, ANNOUNCE = "S0ONCALL01", "S0LEADS001", "C0ANNOUNCE"


def escalations(channel: Channel) -> list[str]:
    return [m["text"] for m in channel.messages.values() if m.get("text", "").startswith("Escalation")]


def header(channel: Channel) -> dict[str, Any]:
    return channel.messages[next(iter(channel.pins))]


def click_header(bot: RunningBot, channel: Channel, action: str, value: str, user: str) -> None:
    bot.slack.click(action, value, user=user, channel_id=channel.id, message_ts=header(channel)["ts"])


def paged_bot(bot_factory: Any) -> RunningBot:
    bot = bot_factory(responders_usergroup=ONCALL, second_level_usergroup=LEADS)
    bot.fake.add_usergroup(ONCALL, [ALICE, BOB])
    return bot  # type: ignore[no-any-return]


def test_an_unacknowledged_sev1_escalates_twice(bot_factory: Any) -> None:
    bot = paged_bot(bot_factory)
    channel = declare(bot, "declare sev1 Org Chat down")
    assert ":large_green_circle: on time" in text_of(header(channel))
    bot.clock.advance(minutes=11)  # past 14:10, the last quarter of the 15 minutes
    bot.run_due_jobs()
    assert ":large_orange_circle: due soon" in text_of(header(channel)) and escalations(channel) == []
    bot.clock.advance(minutes=5)  # 14:16
    bot.run_due_jobs()
    (first,) = escalations(channel)
    text = text_of(next(m for m in channel.messages.values() if m.get("text") == first))
    assert f"<!subteam^{ONCALL}> INC-1 (SEV-1) is not acknowledged: its response target passed 1 min ago" in text
    assert ":red_circle: missed" in text_of(header(channel))
    bot.clock.advance(minutes=14)
    bot.run_due_jobs()
    assert len(escalations(channel)) == 1
    bot.clock.advance(minutes=2)  # 15 minutes after the first escalation
    bot.run_due_jobs()
    assert len(escalations(channel)) == 2
    assert f"<!subteam^{LEADS}>" in json.dumps([m.get("blocks") for m in channel.messages.values()])
    assert [e.text for e in bot.services.timeline.entries(1) if e.text.startswith("Escalated")] == [
        "Escalated to level 1: not acknowledged",
        "Escalated to level 2: not acknowledged",
    ]


def test_acknowledged_incidents_are_never_pinged(bot_factory: Any) -> None:
    bot = paged_bot(bot_factory)
    channel = declare(bot, "declare sev1 Org Chat down")
    bot.clock.advance(minutes=4)
    click_header(bot, channel, "incident.ack", '{"incident":1}', BOB)  # not the commander
    bot.fake.wait_until(
        lambda: any(t.startswith("Only the commander, <@U0ALICE01>, acknowledges") for t in ephemeral_texts(bot))
    )
    click_header(bot, channel, "incident.ack", '{"incident":1}', ALICE)
    bot.fake.wait_until(lambda: "acknowledged by <@U0ALICE01> at 14:04" in text_of(header(channel)))
    assert "incident.ack" not in text_of(header(channel))  # the button goes once acknowledged
    bot.clock.advance(minutes=60)
    bot.run_due_jobs()
    assert escalations(channel) == []
    incident = bot.services.incidents.in_channel(channel.id)
    assert incident is not None and f"{incident.acknowledged_at:%H:%M}" == "14:04"


def test_resolved_incidents_are_never_pinged(bot_factory: Any) -> None:
    bot = paged_bot(bot_factory)
    channel = declare(bot, "declare sev3 Slow dashboard")
    bot.slack.command("resolve", channel_id=channel.id)
    view = bot.fake.wait_until(lambda: bot.fake.open_views("incident.resolve"))[-1]
    bot.slack.submit(view, {})
    bot.fake.wait_until(lambda: any("INC-1 is resolved" in t for t in ephemeral_texts(bot)))
    bot.clock.advance(days=2)
    bot.run_due_jobs()
    assert escalations(channel) == []


def test_sev4_declared_friday_evening_is_due_monday(bot_factory: Any) -> None:
    bot = bot_factory(team_timezone="Europe/Paris")
    bot.clock.set(datetime(2026, 11, 27, 19, 30, tzinfo=ZoneInfo("Europe/Paris")))
    channel = declare(bot, "declare sev4 Typo on the settings page")
    assert "next business day, due 2026-11-30 17:00 CET" in text_of(header(channel))


def test_a_severity_change_moves_the_deadline_and_its_escalation(bot_factory: Any) -> None:
    bot = paged_bot(bot_factory)
    channel = declare(bot, "declare sev3 Looks small")
    assert "due 2026-11-26 14:00 UTC" in text_of(header(channel))
    bot.clock.advance(minutes=5)
    bot.slack.command("sev 1", user=BOB, channel_id=channel.id)
    bot.fake.wait_until(lambda: "due 2026-11-25 14:15 UTC" in text_of(header(channel)))
    bot.fake.wait_until(
        lambda: "INC-1 is now SEV-1; the response target is 2026-11-25 14:15 UTC." in ephemeral_texts(bot)
    )
    assert ("severity", "Severity SEV-3 → SEV-1") in [(e.kind.value, e.text) for e in bot.services.timeline.entries(1)]
    bot.clock.advance(minutes=11)  # 14:16
    bot.run_due_jobs()
    assert len(escalations(channel)) == 1
    click_header(bot, channel, "incident.severity", '{"incident":1,"severity":2}', BOB)  # the header's select
    bot.fake.wait_until(lambda: "SEV-2: Major surface degraded" in text_of(header(channel)))


def test_missing_updates_are_reminded_and_updates_are_announced(bot_factory: Any) -> None:
    bot = bot_factory(announcements_channel=ANNOUNCE)
    announcements = bot.fake.add_channel("announcements", members={"U0BOT0001"})
    announcements.id = ANNOUNCE
    bot.fake.channels[ANNOUNCE] = announcements
    channel = declare(bot, "declare sev1 Org Chat down")

    def reminders() -> list[dict[str, Any]]:
        return [m for m in channel.messages.values() if m.get("text", "").endswith("needs a status update")]

    bot.clock.advance(minutes=29)
    bot.run_due_jobs()
    assert reminders() == []
    bot.clock.advance(minutes=2)  # 14:31
    bot.run_due_jobs()
    (reminder,) = reminders()
    assert "<@U0ALICE01>, no status update for INC-1 in the last 30 min (SEV-1 cadence)" in text_of(reminder)

    bot.clock.advance(minutes=9)  # 14:40: an update
    bot.slack.command("update", channel_id=channel.id)
    view = bot.fake.wait_until(lambda: bot.fake.open_views(UPDATE_CALLBACK))[-1]
    assert bot.slack.submit(view, {"status": "identified", "text": ""}).json()["errors"] == {
        "text": "Write the update, in at most 2000 characters."
    }
    bot.slack.submit(view, {"status": "identified", "text": "Anthropic outage; fallback to OpenAI in progress."})
    bot.fake.wait_until(lambda: "Update posted here and in the announcements channel." in ephemeral_texts(bot))
    assert any("INC-1 update: identified" in m.get("text", "") for m in announcements.messages.values())
    bot.fake.wait_until(lambda: "Identified" in text_of(header(channel)))  # the header's update is sent after

    bot.clock.advance(minutes=21)  # 15:01: the old reminder comes due, but an update came at 14:40
    bot.run_due_jobs()
    assert len(reminders()) == 1
    bot.clock.advance(minutes=10)  # 15:11
    bot.run_due_jobs()
    assert len(reminders()) == 2


def test_timers_survive_a_restart_and_fire_once_across_processes(
    bot_factory: Any, fake_slack: Any, status_pages: Any, redis_url: str, clock: Any, tmp_path: Any
) -> None:
    first = paged_bot(bot_factory)
    channel = declare(first, "declare sev1 Org Chat down")
    settings = first.services.settings
    second = BotServer(
        settings_for(
            fake_slack,
            status_pages,
            redis_url=redis_url,
            data_dir=tmp_path / "var2",
            key_prefix=settings.key_prefix,
            responders_usergroup=ONCALL,
            second_level_usergroup=LEADS,
        ),
        fake_slack,
        clock,
    )
    try:
        second.bot.slack.command("sev 2", user=BOB, channel_id=channel.id)  # a second web process reschedules
        second.bot.fake.wait_until(lambda: "SEV-2: Major surface degraded" in text_of(header(channel)))
        clock.advance(minutes=61)
        first.run_due_jobs()  # the worker of before the restart ran nothing; the new one finds the timer
        second.bot.run_due_jobs()
        assert len(escalations(channel)) == 1
    finally:
        second.close()


def test_roles_are_shown_and_recorded(bot: RunningBot) -> None:
    channel = declare(bot)
    bot.slack.command("lead <@U0BOB0001|bob>", channel_id=channel.id)
    bot.fake.wait_until(lambda: "*Commander*\\n<@U0BOB0001>" in text_of(header(channel)))
    bot.slack.command("role comms <@U0CAROL01|carol>", channel_id=channel.id)
    bot.fake.wait_until(lambda: "Comms: <@U0CAROL01>" in text_of(header(channel)))
    assert {BOB, CAROL} <= channel.members
    roles = [e.text for e in bot.services.timeline.entries(1) if e.kind is EntryKind.ROLE]
    assert roles == ["Commander: U0BOB0001", "Communications: U0CAROL01"]
    assert bot.slack.command("role chef <@U0CAROL01|carol>", channel_id=channel.id).text == (
        "`chef` is not a role: use lead, comms or scribe."
    )


def test_private_incidents_are_shown_only_to_their_members(bot: RunningBot) -> None:
    bot.slack.command("declare --private sev1 Suspected exfiltration")
    bot.fake.wait_until(lambda: (channel := bot.fake.channel_named("inc-1-")) and ALICE in channel.members)
    bot.slack.command("declare sev3 Slow dashboard")
    bot.fake.wait_until(lambda: len(bot.services.incidents.store.open_incidents()) == 2)
    for viewer, sees_private in ((ALICE, True), (BOB, False)):
        bot.slack.command("status", user=viewer, channel_id="C0GENERAL")
        listing = bot.fake.wait_until(lambda: [r for r in bot.fake.responses if "Open incidents" in json.dumps(r)])
        text = json.dumps(listing[-1]["blocks"])
        assert ("Suspected exfiltration" in text) is sees_private and "Slow dashboard" in text
        bot.fake.responses.clear()
        bot.slack.event(
            {"type": "app_home_opened", "user": viewer, "channel": "D0HOME", "tab": "home", "event_ts": "1.0"}
        )
        home = bot.fake.wait_until(lambda viewer=viewer: bot.fake.homes.get(viewer))
        assert ("Suspected exfiltration" in json.dumps(home)) is sees_private


def test_playbook_4_suggests_sev1_and_a_private_incident(bot: RunningBot) -> None:
    channel = declare(bot)  # a public SEV-2
    bot.slack.command("playbook 4", channel_id=channel.id)
    suggestion = bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if m.get("text") == "Suspected exfiltration"), None)
    )
    assert "Data exfiltration suspected is *SEV-1* in the severity matrix" in text_of(suggestion)
    bot.slack.click("incident.declare_private", '{"incident":1}', channel_id=channel.id, message_ts=suggestion["ts"])
    form = bot.fake.wait_until(lambda: bot.fake.open_views("incident.declare"))[-1]
    assert form["blocks"][0]["element"]["initial_value"] == "Investigation: Anthropic 5xx on all pipelines"
    assert {o["value"] for o in form["blocks"][3]["element"]["initial_options"]} == {
        "private",
        "exfiltration_suspected",
    }
    bot.slack.click(
        "incident.severity", '{"incident":1,"severity":1}', channel_id=channel.id, message_ts=suggestion["ts"]
    )
    bot.fake.wait_until(lambda: "SEV-1: All Org Chat" in text_of(header(channel)))


def test_a_sev1_update_cannot_resolve(bot: RunningBot) -> None:
    channel = declare(bot, "declare sev1 Org Chat down")
    bot.slack.command("update", channel_id=channel.id)
    view = bot.fake.wait_until(lambda: bot.fake.open_views(UPDATE_CALLBACK))[-1]
    bot.slack.submit(view, {"status": "resolved", "text": "all good"})
    bot.fake.wait_until(
        lambda: "Resolve a SEV-1 with `/incident resolve`: it asks for the root cause." in ephemeral_texts(bot)
    )
    assert message(bot, channel, "first-five")
