"""The busiest minute: clicks on one message coalesce into a few chat.update calls that only move forward and
end on what Redis holds, and a 429 is waited out by the sender, never by a listener."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from bot.adapters.redis_store.updates import CoalescedUpdates, UpdateNotSent
from tests.conftest import RunningBot, delete_prefix, new_prefix
from tests.driver import buttons, declare, message
from tests.fakes.slack import Channel

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

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


class Message:
    """One Slack message as two processes' senders see it: what Redis says it should show (`state`), and what
    was delivered, in the order it landed. `slow` makes the next delivery wait until it is set (a slow Slack)."""

    def __init__(self) -> None:
        self.state = "v1"
        self.delivered: list[str] = []
        self.slow: threading.Event | None = None

    def render(self) -> str:
        return self.state

    def deliver(self, payload: str) -> None:
        slow, self.slow = self.slow, None
        if slow is not None:
            slow.wait(10)
        self.delivered.append(payload)


LEASE_MS = 400


@pytest.fixture
def senders(redis_url: str) -> Iterator[tuple[CoalescedUpdates, CoalescedUpdates, redis.Redis, str]]:
    """Two processes' senders on one Redis, with a short lease; their keys removed after."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = new_prefix()
    pair = [
        CoalescedUpdates(client, prefix, 0.05, ThreadPoolExecutor(max_workers=2), lease_ms=LEASE_MS) for _ in range(2)
    ]
    yield pair[0], pair[1], client, prefix
    for updates in pair:
        updates.close()
    delete_prefix(client, prefix)
    client.close()


def test_a_delivery_that_outlives_its_lease_never_leaves_the_message_behind(senders: Senders) -> None:
    """Process A's delivery of v1 hangs past its lease; process B takes over and shows v2; A's v1 lands after it.
    A's sender sees it lost its lease, forgets what the message shows and sends the latest again: v2 last."""
    first, second, _, _ = senders
    message = Message()
    slow = message.slow = threading.Event()
    first.request("m", message.render, message.deliver)
    wait_for(lambda: message.slow is None, lambda: message.delivered)  # A took it and is stuck delivering v1
    time.sleep(LEASE_MS / 1000 * 1.5)  # past A's lease
    message.state = "v2"
    with CoalescedUpdates.inline():
        second.request("m", message.render, message.deliver)  # B claims the lapsed lock and sends v2
    assert message.delivered == ["v2"]
    slow.set()  # A's v1 lands now, after v2
    wait_for(lambda: len(message.delivered) == 3, lambda: message.delivered)
    assert message.delivered == ["v2", "v1", "v2"]  # and the latest is sent again: the message ends on v2


def test_an_inline_update_waits_out_a_dead_holder_and_sends(senders: Senders) -> None:
    """A sender died holding the message's lock: a job's inline update neither returns without sending nor
    raises; it waits for the lease to lapse and sends."""
    first, _, client, prefix = senders
    client.set(f"{prefix}:updates:sender:m", "dead-sender", px=LEASE_MS)
    message = Message()
    with CoalescedUpdates.inline():
        first.request("m", message.render, message.deliver)
    assert message.delivered == ["v1"]


class Throttled(Exception):
    """What the Slack adapter raises on a 429: its Retry-After in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


Senders = tuple[CoalescedUpdates, CoalescedUpdates, redis.Redis, str]


def test_the_same_render_is_not_sent_twice_and_nothing_is_sent_for_none(senders: Senders) -> None:
    first, _, client, prefix = senders
    message = Message()
    with CoalescedUpdates.inline():
        first.request("m", message.render, message.deliver)
        first.request("m", message.render, message.deliver)  # the same state: not sent again
        message.state = "v2"
        first.request("m", message.render, message.deliver)
        first.request("gone", lambda: None, message.deliver)  # nothing to show (the message is not posted yet)
    assert message.delivered == ["v1", "v2"]
    assert not client.exists(f"{prefix}:updates:dirty:m", f"{prefix}:updates:sender:m")
    assert client.smembers(f"{prefix}:updates:marked") == set()
    assert float(client.get(f"{prefix}:updates:next:m") or 0) > time.time()  # the next send waits the interval


def test_a_throttled_inline_update_fails_its_job_and_leaves_the_wait_and_the_mark(senders: Senders) -> None:
    first, second, client, prefix = senders
    message = Message()

    def throttled(payload: str) -> None:
        raise Throttled(30)

    with CoalescedUpdates.inline(), pytest.raises(Throttled):
        first.request("m", message.render, throttled)
    assert client.exists(f"{prefix}:updates:dirty:m") and client.smembers(f"{prefix}:updates:marked") == {"m"}
    assert float(client.get(f"{prefix}:updates:next:m") or 0) > time.time() + 20  # nobody sends before Slack allows
    assert not client.exists(f"{prefix}:updates:sender:m")  # the lock is let go
    assert second.stale() == ["m"]  # so the sweep sends it later


def test_a_failed_delivery_off_the_listener_is_logged_and_left_marked_for_the_sweep(
    senders: Senders, caplog: pytest.LogCaptureFixture
) -> None:
    first, _, client, prefix = senders

    def failing(payload: str) -> None:
        raise RuntimeError("slack is down")

    first.request("m", lambda: "v1", failing)
    failed = "a message update failed; the next change or the sweep sends it"
    wait_for(lambda: failed in caplog.text, lambda: caplog.text)
    wait_for(lambda: not client.exists(f"{prefix}:updates:sender:m"), lambda: client.keys(f"{prefix}:*"))
    assert first.stale() == ["m"]
    message = Message()
    with CoalescedUpdates.inline():
        first.request("m", message.render, message.deliver)  # the next change sends it
    assert message.delivered == ["v1"] and first.stale() == []


def test_the_sweep_forgets_marks_already_sent_and_leaves_held_ones(senders: Senders) -> None:
    first, _, client, prefix = senders
    client.sadd(f"{prefix}:updates:marked", "sent", "held", "left")
    client.set(f"{prefix}:updates:dirty:held", 1)
    client.set(f"{prefix}:updates:sender:held", "another", px=LEASE_MS * 10)
    client.set(f"{prefix}:updates:dirty:left", 1)
    assert first.stale() == ["left"]
    assert client.smembers(f"{prefix}:updates:marked") == {"held", "left"}


def test_a_sender_stopping_leaves_its_mark_for_the_next_change(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = new_prefix()
    updates = CoalescedUpdates(client, prefix, 30, ThreadPoolExecutor(max_workers=1), lease_ms=LEASE_MS)
    try:
        client.set(f"{prefix}:updates:next:m", time.time() + 30)  # sent a moment ago: the next waits the interval
        message = Message()
        updates.request("m", message.render, message.deliver)
        wait_for(lambda: client.exists(f"{prefix}:updates:sender:m"), lambda: message.delivered)
        updates.close()  # returns at once, not after the interval
        assert message.delivered == []
        assert client.exists(f"{prefix}:updates:dirty:m") and not client.exists(f"{prefix}:updates:sender:m")
    finally:
        delete_prefix(client, prefix)
        client.close()


def test_a_mark_a_dead_holder_left_is_drained_by_the_sweep(bot: RunningBot) -> None:
    channel = declare(bot)
    checklist = message(bot, channel, "first-five")
    bot.wait_quiet()
    prefix = bot.services.settings.key_prefix
    data = bot.services.redis.data
    data.set(f"{prefix}:updates:dirty:1:first-five", 1)  # marked by a process that died before sending
    data.sadd(f"{prefix}:updates:marked", "1:first-five")
    data.delete(f"{prefix}:updates:shown:1:first-five")  # (and what the message shows is not known)
    assert bot.services.updates.stale() == ["1:first-five"]
    before = len(updates_of(bot, checklist["ts"]))
    bot.services.sweep()
    assert len(updates_of(bot, checklist["ts"])) == before + 1
    assert bot.services.updates.stale() == [] and shows_latest(bot, channel, checklist["ts"])


def wait_for(condition: Any, seeing: Any, seconds: float = 10) -> None:
    """Waits until `condition()` holds; when it never does, fails saying what `seeing()` showed last."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s; last saw {seeing()!r}"
        time.sleep(0.01)


def test_a_render_with_its_keys_in_another_order_is_the_same_render(senders: Senders) -> None:
    first, _, client, prefix = senders
    delivered: list[dict[str, str]] = []
    renders = iter([{"a": "1", "b": "2"}, {"b": "2", "a": "1"}])
    with CoalescedUpdates.inline():
        first.request("m", lambda: next(renders), delivered.append)
        first.request("m", lambda: next(renders), delivered.append)
    assert delivered == [{"a": "1", "b": "2"}]
    assert client.exists(f"{prefix}:updates:shown:m")  # the digest of what it shows, kept for the next render


def test_a_send_waits_for_its_time(senders: Senders) -> None:
    """Sent a moment ago (or throttled by Slack): the next send waits until its time, even inline."""
    first, _, client, prefix = senders
    due = time.time() + 0.3
    client.set(f"{prefix}:updates:next:m", due)
    sent_at: list[float] = []
    with CoalescedUpdates.inline():
        first.request("m", lambda: "v1", lambda payload: sent_at.append(time.time()))
    assert len(sent_at) == 1 and sent_at[0] >= due


def test_a_sender_whose_lease_lapsed_while_it_waited_sends_nothing(redis_url: str) -> None:
    """A sender waiting out the interval loses its lease meanwhile, and another takes the message: the first sends
    nothing (the fence), and leaves the mark to the holder."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = new_prefix()
    updates = CoalescedUpdates(client, prefix, 0.05, ThreadPoolExecutor(max_workers=1), lease_ms=300)
    try:
        client.set(f"{prefix}:updates:next:m", time.time() + 1.2)
        message = Message()
        updates.request("m", message.render, message.deliver)
        claimed = time.monotonic() + 0.25  # the sender claims at once; a busy machine may hide it from this poll
        while not client.exists(f"{prefix}:updates:sender:m") and time.monotonic() < claimed:
            time.sleep(0.005)
        wait_for(lambda: not client.exists(f"{prefix}:updates:sender:m"), lambda: message.delivered)  # lapsed
        client.set(f"{prefix}:updates:sender:m", "another", px=5000)  # another sender holds it now
        updates.senders.shutdown(wait=True)
        assert message.delivered == []
        assert client.exists(f"{prefix}:updates:dirty:m")  # still marked, for the holder
    finally:
        updates.close()
        delete_prefix(client, prefix)
        client.close()


def test_a_change_while_another_holds_the_message_is_left_marked_for_the_sweep(senders: Senders) -> None:
    first, second, client, prefix = senders
    client.set(f"{prefix}:updates:sender:m", "a-dead-sender", px=LEASE_MS)
    message = Message()
    first.request("m", message.render, message.deliver)  # off the listener: the holder is left to send it
    wait_for(lambda: not client.exists(f"{prefix}:updates:sender:m"), lambda: message.delivered)
    assert message.delivered == [] and second.stale() == ["m"]  # the holder died: the sweep finds the mark


def test_an_inline_update_held_by_another_for_longer_than_a_lease_fails_its_job(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = new_prefix()
    updates = CoalescedUpdates(client, prefix, 0.05, ThreadPoolExecutor(max_workers=1), lease_ms=100)
    holding = threading.Event()

    def hold() -> None:  # a sender stuck holding it, renewing its lock all along
        while not holding.is_set():
            client.set(f"{prefix}:updates:sender:m", "stuck", px=100)
            time.sleep(0.02)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        with CoalescedUpdates.inline(), pytest.raises(UpdateNotSent) as failed:
            updates.request("m", lambda: "v1", lambda payload: None)
        assert str(failed.value) == "m was held by another sender for longer than its lease"
    finally:
        holding.set()
        holder.join()
        updates.close()
        delete_prefix(client, prefix)
        client.close()
