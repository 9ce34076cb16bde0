"""Events out of the bot: each use case's event is written with its change (the outbox), the dispatcher hands
it to every subscriber as a job of its own, and a subscriber receives it once, whatever died in between."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.core.events import parse_event
from tests.conftest import RunningBot
from tests.driver import approve, incident_channel, logged_events, request, resolve
from tests.fakes.salesforce import FakeSalesforce


def outbox(bot: RunningBot) -> list[Any]:
    stream = f"{bot.services.settings.key_prefix}:events"
    return [parse_event(fields["event"]) for _, fields in bot.services.redis.data.xrange(stream)]


def test_an_incidents_life_reaches_the_event_log_once_each(
    sf_bot: RunningBot, fake_org: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="bot.events")
    channel = incident_channel(sf_bot, "declare sev2 Org Chat leaking")
    sf_bot.slack.command("sev 1", channel_id=channel.id)
    sf_bot.slack.command("ack", channel_id=channel.id)
    sf_bot.slack.command("action Fix the validator @U0BOB0001 2026-12-01", channel_id=channel.id)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    sf_bot.wait_quiet()
    assert sf_bot.run_jobs() == 0
    kinds = [event["kind"] for event in logged_events(caplog)]
    assert kinds == [
        "declared",
        "severity changed",
        "acknowledged",
        "action item added",
        "switch changed",
        "switch changed",
        "mitigated",
    ], kinds
    changes = [event["change"] for event in logged_events(caplog) if event["kind"] == "switch changed"]
    assert changes == ["executed", "verified"]
    severity = next(event for event in logged_events(caplog) if event["kind"] == "severity changed")
    assert (severity["before"], severity["after"], severity["actor"]) == (2, 1, "U0ALICE01")
    assert "Org Chat leaking" not in json.dumps(logged_events(caplog))  # events carry no words

    assert sf_bot.run_jobs() == 0  # nothing new: nothing delivered again
    assert len(logged_events(caplog)) == 7

    resolve(sf_bot, channel)  # a SEV-1: its post-mortem draft is published
    assert sf_bot.run_jobs() == 0
    assert [event["kind"] for event in logged_events(caplog)][7:] == ["resolved", "post-mortem published"]


def test_a_dispatcher_that_died_before_acknowledging_is_taken_over_without_a_second_delivery(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="bot.events")
    bot.slack.command("declare sev3 Dispatcher dies")
    bot.fake.wait_until(lambda: outbox(bot))
    bot.wait_quiet()
    events = bot.services.events
    taken = events.outbox.claim("dead-dispatcher")  # took the event, and died before queueing anything
    assert [event.kind for _, event in taken] == ["declared"]
    assert bot.run_jobs() == 0 and logged_events(caplog) == []  # not yet: it is the dead one's for a minute
    pending = bot.services.redis.data.xpending_range(events.outbox.stream, "dispatch", "-", "+", 10)
    assert [entry["consumer"] for entry in pending] == ["dead-dispatcher"]
    bot.services.redis.data.xclaim(  # a minute passes: the entry has been idle that long
        events.outbox.stream, "dispatch", "dead-dispatcher", 0, [taken[0][0]], idle=61_000
    )
    assert bot.run_jobs() == 0  # the next dispatcher takes it over and hands it on
    assert [event["kind"] for event in logged_events(caplog)] == ["declared"]
    assert bot.services.redis.data.xpending_range(events.outbox.stream, "dispatch", "-", "+", 10) == []

    # the same event dispatched twice (a crash after its job was queued, before it was acknowledged): delivered once
    event = taken[0][1]
    events.deliver("event-log", event.model_dump_json())
    assert [e["kind"] for e in logged_events(caplog)] == ["declared"]
