"""The busiest minute: clicks on one message coalesce into a few chat.update calls that only move forward and
end on what Redis holds, and a 429 is waited out by the sender, never by a listener."""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.conftest import RunningBot
from tests.fakes.slack import Channel
from tests.integration.test_walkthrough import buttons, declare, message

PEOPLE = [f"U0RESP{n:03d}" for n in range(20)]


def updates_of(bot: RunningBot, ts: str) -> list[dict[str, Any]]:
    return [call.args for call in bot.fake.calls_to("chat.update") if call.args.get("ts") == ts]


def settled_steps(blocks: Any) -> int:
    text = json.dumps(blocks)
    return text.count("Done by") + text.count("N/A by")


def shows_latest(bot: RunningBot, channel: Channel, ts: str) -> bool:
    latest = bot.services.present.walkthrough.latest(1, "first-five")
    assert latest is not None and latest.ts == ts
    return json.dumps(channel.messages[ts]["blocks"]) == json.dumps(latest.blocks)


def test_twenty_clicks_on_one_message_give_a_few_updates_that_end_on_the_latest_state(bot_factory: Any) -> None:
    bot = bot_factory(message_update_interval_seconds=1.0)  # production's interval
    channel = declare(bot)
    channel.members.update(PEOPLE)
    checklist = message(bot, channel, "first-five")
    targets = [e for e in buttons(checklist) if e["action_id"] in ("step.done", "step.na")]
    before = len(updates_of(bot, checklist["ts"]))
    clicks = [  # twenty people at once, several on the same buttons
        threading.Thread(
            target=bot.slack.click,
            args=(element["action_id"], element["value"]),
            kwargs={"user": person, "channel_id": channel.id, "message_ts": checklist["ts"]},
        )
        for person, element in zip(PEOPLE, targets * 4, strict=False)
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    bot.wait_quiet()
    bot.fake.wait_until(lambda: shows_latest(bot, channel, checklist["ts"]), timeout=15)

    sent = updates_of(bot, checklist["ts"])[before:]
    assert 1 <= len(sent) <= 4, len(sent)  # not one per click
    progress = [settled_steps(update["blocks"]) for update in sent]
    assert progress == sorted(progress)  # never back to an older state
    assert bot.fake.rate_limited == []


def test_a_rate_limited_update_is_waited_out_by_the_sender_not_a_listener(bot: RunningBot) -> None:
    channel = declare(bot)
    checklist = message(bot, channel, "first-five")
    done = next(e for e in buttons(checklist) if e["action_id"] == "step.done")
    bot.wait_quiet()
    bot.fake.inject("chat.update", status=429, retry_after=2)
    assert bot.slack.click("step.done", done["value"], channel_id=channel.id, message_ts=checklist["ts"]).ok
    bot.wait_quiet()  # every listener is free while Slack's two seconds run
    assert "Done by" not in json.dumps(checklist["blocks"])
    bot.fake.wait_until(lambda: "Done by" in json.dumps(checklist["blocks"]), timeout=10)
    assert shows_latest(bot, channel, checklist["ts"])
