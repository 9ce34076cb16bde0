"""The big incident: a hundred people in a SEV-1 channel clicking at twenty a second for a minute across the
first five minutes and every phase of all seven playbooks (most clicks on steps still open, the rest on steps
someone already settled), the severity changed every second, a pinned message every 3 s and a status update
every 6 s, against a fake Slack that enforces Slack's rate limits (each method's tier, about one post a second
per channel) and answers 429 with Retry-After.

Prints the 429s received, click-to-message-updated p50/p99 (for the clicks that changed a step), the
chat.update calls per message, the ack p99, and whether every message ends as Redis says it should.

Run: `.venv/bin/python -m bench.big_incident [--seconds 60] [--rate 20]`
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.harness import bench_settings, percentiles, row
from bot.core.walkthrough import state_key
from bot.render.modals import UPDATE_CALLBACK
from tests.conftest import BotServer, ManualClock
from tests.driver import buttons, declare, open_phase, value_of
from tests.fakes.slack import FakeSlack
from tests.fakes.status_pages import FakeStatusPages

PEOPLE = [f"U0P{n:07d}" for n in range(100)]
PLAYBOOKS = {
    "provider-outage": "recover",
    "rate-limit-storm": "diagnose",
    "cache-wedge": "recover",
    "prompt-injection": "recover",
    "inventory-harvester": "contain",
    "circuit-breaker": "post-mortem",
    "telemetry": "diagnose",
}
OPEN_SHARE = 0.7  # of the clicks, on a step nobody has settled yet


@dataclass
class Click:
    at: float
    ack: float
    ts: str
    scope: str
    step: str
    user: str


def walkthrough_messages(channel: Any) -> list[dict[str, Any]]:
    return [m for m in channel.messages.values() if any(b["action_id"] in ("step.done", "step.na") for b in buttons(m))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=20, help="clicks a second")
    options = parser.parse_args()
    random.seed(7)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    slack, pages = FakeSlack().start(), FakeStatusPages().start()  # rate limits on, as every test runs
    clock = ManualClock(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))
    with bench_settings(slack, pages, message_update_interval_seconds=1.0) as settings:
        server = BotServer(settings, slack, clock)
        bot = server.bot
        channel = declare(bot, "declare --llm sev1 Everything is on fire")
        channel.members.update(PEOPLE)
        for key, last in PLAYBOOKS.items():
            open_phase(bot, channel, key, last)  # every phase of three playbooks posted
        bot.wait_quiet()
        time.sleep(2)
        targets = [
            (m["ts"], e)
            for m in walkthrough_messages(channel)
            for e in buttons(m)
            if e["action_id"] in ("step.done", "step.na")
        ]
        limited_before = len(slack.rate_limited)
        updates_before = Counter(c.args.get("ts") for c in slack.calls_to("chat.update"))
        clicks: list[Click] = []
        lock = threading.Lock()

        def click(ts: str, element: dict[str, Any], user: str) -> None:
            sent = time.monotonic()
            wall = time.time()
            bot.slack.click(element["action_id"], element["value"], user=user, channel_id=channel.id, message_ts=ts)
            ref = value_of(element)
            with lock:
                clicks.append(Click(wall, time.monotonic() - sent, ts, ref["scope"], ref["step"], user))

        def severity_changes(stop: threading.Event) -> None:
            level = 1
            while not stop.wait(1):
                level = 3 - level
                bot.slack.command(f"sev {level}", user=random.choice(PEOPLE), channel_id=channel.id)

        def side_traffic(stop: threading.Event) -> None:
            round_ = 0
            while not stop.wait(3):
                round_ += 1
                posted = slack.user_message(channel.id, random.choice(PEOPLE), f"Finding {round_}")
                bot.slack.event(
                    {
                        "type": "reaction_added",
                        "user": random.choice(PEOPLE),
                        "reaction": "pushpin",
                        "item_user": posted["user"],
                        "item": {"type": "message", "channel": channel.id, "ts": posted["ts"]},
                    }
                )
                if round_ % 2 == 0:
                    bot.slack.command("update", user=PEOPLE[0], channel_id=channel.id)
                    view = slack.wait_until(lambda: slack.open_views(UPDATE_CALLBACK))[-1]
                    bot.slack.submit(view, {"status": "identified", "text": f"Status {round_}"}, user=PEOPLE[0])

        stop = threading.Event()
        sides = [threading.Thread(target=work, args=(stop,)) for work in (side_traffic, severity_changes)]
        for side in sides:
            side.start()

        def pick() -> tuple[str, dict[str, Any]]:
            if random.random() < OPEN_SHARE:
                states = bot.services.walkthrough.steps.snapshot(1).states
                open_ = [
                    (ts, e)
                    for ts, e in targets
                    if not states.get(state_key(value_of(e)["scope"], value_of(e)["step"]))
                    or not states[state_key(value_of(e)["scope"], value_of(e)["step"])].status.settled
                ]
                if open_:
                    return random.choice(open_)
            return random.choice(targets)

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            for n in range(int(options.seconds * options.rate)):
                delay = started + n / options.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                ts, element = pick()
                pool.submit(click, ts, element, random.choice(PEOPLE))
        stop.set()
        for side in sides:
            side.join()
        bot.wait_quiet()
        settle_started = time.monotonic()

        def final_states_match() -> bool:
            for name in bot.services.present.walkthrough.names(1):
                latest = bot.services.present.walkthrough.latest(1, name)
                if latest is not None and json.dumps(channel.messages[latest.ts]["blocks"]) != json.dumps(
                    latest.blocks
                ):
                    return False
            return True

        try:
            slack.wait_until(final_states_match, timeout=120)
            matched = True
        except AssertionError:
            matched = False
        settled_in = time.monotonic() - settle_started

        snapshot = bot.services.walkthrough.steps.snapshot(1)
        updates = [c for c in slack.calls_to("chat.update")]
        changed: list[float] = []
        for c in sorted(clicks, key=lambda c: c.at):
            state = snapshot.states.get(state_key(c.scope, c.step))
            if state is None or state.by != c.user:
                continue
            first = next(
                (
                    u.at
                    for u in updates
                    if u.args.get("ts") == c.ts and u.at >= c.at and f"<@{c.user}>" in json.dumps(u.args.get("blocks"))
                ),
                None,
            )
            if first is not None:
                changed.append(first - c.at)
        per_message = Counter(c.args.get("ts") for c in updates) - updates_before
        limited = Counter(c.method for c in slack.rate_limited[limited_before:])
        server.close()
    slack.stop()
    pages.stop()

    print(
        f"big incident: {len(PEOPLE)} members, {options.rate:g} clicks/s for {options.seconds:g} s over "
        f"{len({t for t, _ in targets})} messages ({len(targets)} buttons), a pinned message every 3 s, a status "
        "update every 6 s; Slack's rate limits enforced"
    )
    print(f"  clicks sent:                 {len(clicks)} ({len(changed)} changed a step, the rest were repeats)")
    print(f"  429s received:               {sum(limited.values())} {dict(limited)}")
    print(row("  ack", percentiles([c.ack for c in clicks])))
    if changed:
        print(row("  click → message updated", percentiles(changed)))
    counts = sorted(per_message.values())
    print(f"  chat.update per message:     {counts} (total {sum(counts)} for {len(clicks)} clicks)")
    ending = "yes" if matched else "NO"
    print(f"  every message ends as Redis holds it: {ending} ({settled_in:.1f} s after the last click)")


if __name__ == "__main__":
    main()
