"""Faults: Redis down and back, Redis restarted from its append-only file, a worker killed mid-execution,
Slack failing beyond its retries, a record corrupted by hand; and the logs stay JSON without secrets."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from rq.registry import StartedJobRegistry

from bot.core.approval import RequestStatus, Verification
from bot.core.audit import AuditKind
from bot.logs import JsonFormatter
from tests.conftest import OwnRedis, RunningBot, jwt_settings, spawn
from tests.driver import (
    ALICE,
    approve,
    declare,
    ephemeral_texts,
    incident_channel,
    kill_session,
    message,
    request,
    request_id,
    text_of,
    worker_env,
)
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.slack import BOT_TOKEN
from tests.slack_sim import SIGNING_SECRET

NO_DATABASE = ":warning: The bot cannot reach its database right now, so nothing was changed. Try again shortly."


def test_redis_down_is_told_and_the_bot_recovers_by_itself(own_redis: OwnRedis, bot_factory: Any) -> None:
    bot = bot_factory(redis_url=own_redis.url)
    channel = declare(bot)
    checklist = message(bot, channel, "first-five")
    value = next(
        e["value"]
        for b in checklist["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "step.done"
    )
    own_redis.kill()

    assert bot.slack.command("declare sev2 During the outage").status_code == 200
    bot.slack.click("step.done", value, channel_id=channel.id, message_ts=checklist["ts"])
    assert bot.slack.command("status", channel_id="C0GENERAL").status_code == 200
    bot.fake.wait_until(lambda: ephemeral_texts(bot).count(NO_DATABASE) == 3)
    assert bot.fake.channel_named("inc-2-") is None

    own_redis.start()
    bot.slack.command("declare sev2 After the outage")
    bot.fake.wait_until(lambda: bot.fake.channel_named("inc-2-"))
    assert [i.number for i in bot.services.incidents.store.open_incidents()] == [1, 2]


def test_a_killed_redis_restarts_with_incidents_approvals_and_timelines(own_redis: OwnRedis, bot_factory: Any) -> None:
    bot = bot_factory(redis_url=own_redis.url)
    channel = incident_channel(bot, "declare --drill sev1 Practice")
    approval, card = request(bot, channel, "org-chat-off")
    bot.slack.command("note Before the crash", channel_id=channel.id)
    bot.fake.wait_until(lambda: any(e.text == "Before the crash" for e in bot.services.timeline.entries(1)))
    timeline_before = bot.services.timeline.entries(1)

    own_redis.kill()
    own_redis.start()
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    assert client.info("persistence")["aof_enabled"] == 1
    incident = bot.services.incidents.store.get(1)
    assert incident is not None and incident.is_open and incident.channel_id == channel.id
    found = bot.services.approvals.get(request_id(approval))
    assert found[1].status is RequestStatus.PENDING
    assert bot.services.timeline.entries(1) == timeline_before
    assert bot.services.audit.check(1)[1] == []
    approve(bot, channel, card, approval)  # and it goes on where it stopped


def test_a_worker_killed_mid_execution_runs_it_again_without_a_double_execution(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    # the two reads pass (ours, and the one before the update); the update is applied, then its answer hangs
    fake_org.inject(r"/Soap/m/", "slow_answer", skip=2)
    approve(bot, channel, card, approval)

    worker = spawn("worker", env=worker_env(bot, fake_org))
    try:
        bot.fake.wait_until(lambda: fake_org.metadata_updates == 1, timeout=30)
        assert bot.services.approvals.get(request_id(approval))[1].status is RequestStatus.SENDING
    finally:
        kill_session(worker.pid)  # the worker, its executions process and the work horse (RQ gives it a group)
        worker.wait()

    queue = bot.services.scheduler.executions
    # A killed worker's blocking pop stays in Redis until Redis sees the connection close: until then, it would
    # take the retried job into the void (RQ's maintenance finds it in a minute; the test does not wait that long).
    bot.fake.wait_until(lambda: queue.connection.info("clients")["blocked_clients"] == 0)
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)  # RQ's maintenance: retried
    bot.clock.set(datetime.now(UTC) + timedelta(hours=1))  # past the retry delay and the dead worker's lease
    assert bot.run_due_jobs() == 0

    assert fake_org.metadata_updates == 1  # sent once: the retry read the org back instead of sending again
    assert fake_org.refreshes == 1  # and then finished what the dead worker had not (the refresh)
    assert fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] == "none"
    outcome = bot.services.approvals.get(request_id(approval))[1]
    assert outcome.status is RequestStatus.EXECUTED and outcome.verification is Verification.VERIFIED
    assert outcome.prior == {"orgChatSurfacesEnabled__c": "all"}  # kept from the first attempt
    assert "applied: the org took it, though its answer never came" in text_of(card)
    entries = bot.services.approvals.audit.entries(1)
    kinds = [e.kind for e in entries]
    assert kinds.count(AuditKind.EXECUTION_STARTED) == 1 and kinds.count(AuditKind.EXECUTED) == 1
    lost = [e.summary for e in entries if e.kind is AuditKind.UNKNOWN]
    assert lost == ["outcome unknown: the worker stopped while sending"]  # what the next worker found


def test_slack_failing_beyond_its_retries_is_told(bot: RunningBot) -> None:
    bot.fake.inject("conversations.create", status=503, times=3)
    bot.slack.command("declare sev2 Slack is down")
    bot.fake.wait_until(
        lambda: any("Slack refused `conversations.create` (HTTP 503)" in t for t in ephemeral_texts(bot))
    )
    assert len(bot.fake.calls_to("conversations.create")) == 3  # the first try and two bounded retries


def test_a_reset_connection_to_a_response_url_is_retried(bot: RunningBot) -> None:
    bot.fake.reset_responses = 1
    bot.slack.command("status")
    bot.fake.wait_until(lambda: any(r.get("text") == "Open incidents" for r in bot.fake.responses))
    assert bot.fake.reset_responses == 0  # the first post was reset; the answer came on the retry


@contextmanager
def json_logs() -> Iterator[io.StringIO]:
    """Every log line of the block, formatted as the bot formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_logs_are_json_lines_and_never_hold_secrets(bot: RunningBot) -> None:
    with json_logs() as stream:
        declare(bot)
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert len(lines) > 10
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert BOT_TOKEN not in stream.getvalue() and SIGNING_SECRET not in stream.getvalue()
    assert ALICE in stream.getvalue()  # the logs still say who did what


@pytest.mark.mutation  # the click guard's last resort, in `make mutation`'s selection
def test_an_unexpected_failure_gets_a_reference_not_a_trace(bot: RunningBot) -> None:
    channel = declare(bot)
    settings = bot.services.settings
    bot.services.redis.data.hset(f"{settings.key_prefix}:incident:1", "severity", '"SEV-9"')  # edited by hand
    with json_logs() as stream:
        response = bot.slack.command("status", channel_id=channel.id)
        answer = bot.fake.wait_until(lambda: [t for t in ephemeral_texts(bot) if "went wrong" in t])[0]
    assert response.status_code == 200
    reference = re.fullmatch(
        r":warning: Something went wrong on our side \(reference `([0-9a-f]{8})`\); the request stopped there\.",
        answer,
    )
    assert reference is not None
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    failure = next(r for r in logged if reference.group(1) in r["message"])
    assert failure["level"] == "error" and "ValidationError" in failure["error"]
