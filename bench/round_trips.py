"""Redis round trips per button click, counted on the wire of the web process (the bot served in-process, the
fake Slack on loopback). A pipeline or a Lua script is one round trip.

Run: `.venv/bin/python -m bench.round_trips`
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import redis.connection

from bench.harness import bench_settings
from bot.render.actions import ActionId, StepRef, encode
from tests.conftest import BotServer, ManualClock
from tests.driver import declare, message
from tests.fakes.slack import FakeSlack
from tests.fakes.status_pages import FakeStatusPages

VENDOR = encode(ActionId.STEP_DONE, StepRef(incident=1, scope="first-five", step="vendor-status"))
SCOPE = encode(ActionId.STEP_NOT_APPLICABLE, StepRef(incident=1, scope="first-five", step="confirm-scope"))
COUNT: Counter[str] = Counter()  # by who makes the trip: a listener (the click's path) or a sender
LOCK = threading.Lock()
_send = redis.connection.AbstractConnection.send_packed_command


def counting_send(self: Any, command: Any, check_health: bool = True) -> None:
    who = "sender" if threading.current_thread().name.startswith("slack-updates") else "click"
    with LOCK:
        COUNT[who] += 1
    _send(self, command, check_health)


def measure(bot: Any, action: str, value: str, channel: Any, ts: str, settled: Any) -> str:
    time.sleep(1.2)  # past the message's update interval
    before = Counter(COUNT)
    bot.slack.click(action, value, user="U0BOB0001", channel_id=channel.id, message_ts=ts)
    bot.fake.wait_until(settled)
    time.sleep(0.3)  # whatever runs after the ack has finished
    spent = Counter(COUNT)
    spent.subtract(before)
    return f"{spent['click']} on the click's path, {spent['sender']} in the message's sender"


def main() -> None:
    redis.connection.AbstractConnection.send_packed_command = counting_send  # type: ignore[method-assign]
    slack, pages = FakeSlack().start(), FakeStatusPages().start()
    clock = ManualClock(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))
    slack.now = lambda: clock.now().timestamp()
    with bench_settings(slack, pages) as settings:
        server = BotServer(settings, slack, clock)
        bot = server.bot
        channel = declare(bot)
        checklist = message(bot, channel, "first-five")
        updates = len(slack.calls_to("chat.update"))
        done = measure(
            bot,
            "step.done",
            VENDOR,
            channel,
            checklist["ts"],
            lambda: len(slack.calls_to("chat.update")) > updates,
        )
        again = measure(
            bot,
            "step.done",
            VENDOR,
            channel,
            checklist["ts"],
            lambda: any("already done" in r.get("text", "") for r in slack.responses),
        )
        answers = len(slack.responses)
        skipped = measure(
            bot,
            "step.na",
            SCOPE,
            channel,
            checklist["ts"],
            lambda: len(slack.calls_to("chat.update")) > updates + 1,
        )
        server.close()
    slack.stop()
    pages.stop()
    print(
        "Redis round trips per button click (web process). The click's path: the replay check with the read of the "
        "incident the click names (one pipeline; the guard and the use case ask it), the step's Lua script, the mark "
        "for the message update. The sender: claim, take, the render's read (the incident and its walkthrough, in "
        "one pipeline), finish. The process's first click of each kind also loads the scripts it runs (a NOSCRIPT "
        "answer, SCRIPT LOAD, again)"
    )
    print(f"  Done on a pending step:     {done}")
    print(f"  Done again (already done):  {again}")
    print(f"  N/A on a pending step:      {skipped}")
    assert answers >= 1


if __name__ == "__main__":
    main()
