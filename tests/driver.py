"""What the integration tests share: the people, and the moves of the test's Slack and org (declare, click,
request and approve, open a phase, resolve). A test module imports these from here, never from another test
module."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from bot.adapters.redis_store.messages import POSTING
from bot.core.audit import AuditKind
from bot.render.modals import RUN_CALLBACK
from bot.render.switches import REQUEST_CALLBACK, REVERT_CALLBACK
from tests.conftest import (
    RunningBot,
    jwt_settings,
    new_prefix,
    spawn,
    step_state,
)
from tests.fakes.salesforce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    FakeSalesforce,
)
from tests.fakes.slack import BOT_TOKEN, Channel, FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SIGNING_SECRET

# ----- the people: Alice declares and commands; Bob and Carol are responders in the channel

ALICE = "U0ALICE01"
BOB = "U0BOB0001"
CAROL = "U0CAROL01"


# ----- Slack: declare, find a message, click


def declared_channel(bot: RunningBot, prefix: str = "inc-") -> Channel:
    """The channel of a declaration, once its header is pinned and the declarer invited (they happen at once)."""
    channel = bot.fake.wait_until(lambda: bot.fake.channel_named(prefix))
    bot.fake.wait_until(lambda: channel.pins and len(channel.members) > 1)
    return channel  # type: ignore[no-any-return]


def declare(bot: RunningBot, text: str = "declare sev2 Anthropic 5xx on all pipelines", prefix: str = "") -> Channel:
    """Declares and waits until the declaration's work is done: the channel's messages and, with Salesforce, what
    runs on declare and the probes (so a fault a test injects next meets the test's own query, and a Redis the
    test stops next is not the declaration's). `prefix` names the channel among several. Bob and Carol, two
    responders, join the channel; anyone else who acts there is a stranger to it."""
    bot.slack.command(text)
    channel = declared_channel(bot, prefix or ("drill-" if "--drill" in text else "inc-"))
    channel.members.update({BOB, CAROL})
    bot.fake.wait_until(lambda: len(channel.messages) >= 3)
    bot.wait_quiet()
    return channel


def message(bot: RunningBot, channel: Channel, name: str) -> dict[str, Any]:
    incident = bot.services.incidents.in_channel(channel.id)
    assert incident is not None
    ts = bot.fake.wait_until(
        lambda: (posted(bot, incident.number).get(name) or POSTING) != POSTING and posted(bot, incident.number)[name]
    )
    return channel.messages[ts]


def posted(bot: RunningBot, number: int) -> dict[str, str]:
    """The walkthrough's messages posted in incident `number` (name → ts, or `posting` while one is posted)."""
    view = bot.services.walkthrough.view(number)
    assert view is not None, f"incident {number} is gone"
    return view.snapshot.messages


def buttons(msg: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in msg.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


def value_of(element: dict[str, Any]) -> dict[str, Any]:
    """A button's value, as the action codec wrote it."""
    return json.loads(element.get("value") or "{}")  # type: ignore[no-any-return]


def button(msg: dict[str, Any], action_id: str, step: str | None = None) -> dict[str, Any]:
    """The first element whose action (before any `:suffix`) or whole action id is `action_id`, for `step`."""
    for element in buttons(msg):
        matches = action_id in (element["action_id"], element["action_id"].split(":")[0])
        if matches and (step is None or value_of(element).get("step") == step):
            return element
    raise AssertionError(f"no {action_id} button for {step} in {json.dumps(msg['blocks'])[:2000]}")


def click(
    bot: RunningBot, channel: Channel, msg: dict[str, Any], action_id: str, step: str | None = None, user: str = ALICE
) -> Any:
    element = button(msg, action_id, step)
    response = bot.slack.click(
        element["action_id"], element["value"], user=user, channel_id=channel.id, message_ts=msg["ts"]
    )
    assert response.status_code == 200
    return response


def text_of(msg: dict[str, Any]) -> str:
    return json.dumps(msg.get("blocks", []), ensure_ascii=False)


def ephemeral_texts(bot: RunningBot) -> list[str]:
    return [r.get("text", "") for r in bot.fake.responses]


# ----- steps and phases


def state(bot: RunningBot, scope: str, step: str) -> Any:
    return step_state(bot, scope, step)


def wait_settled(bot: RunningBot, scope: str, step: str) -> Any:
    return bot.fake.wait_until(
        lambda: state(bot, scope, step).status.value in ("done", "failed") and state(bot, scope, step)
    )


def open_phase(bot: RunningBot, channel: Channel, key: str, phase: str) -> dict[str, Any]:
    """Starts the playbook (unless it runs) and clicks Next phase until `phase` is posted."""
    incident = bot.services.incidents.in_channel(channel.id)
    assert incident is not None
    if f"{key}/" not in " ".join(posted(bot, incident.number)):
        bot.slack.command(f"playbook {key}", channel_id=channel.id)
    playbook = bot.services.runbook.playbook(key)
    assert playbook is not None
    names = [p.name.value for p in playbook.phases]
    for current, following in zip(names, [*names[1:], None], strict=True):
        msg = message(bot, channel, f"{key}/{current}")
        if current == phase:
            return msg
        if f"{key}/{following}" not in posted(bot, incident.number):
            click(bot, channel, msg, "phase.next")
    raise AssertionError(f"{key} has no phase {phase}")


def submit_run_modal(bot: RunningBot, values: dict[str, str]) -> Any:
    view = bot.fake.wait_until(lambda: bot.fake.open_views(RUN_CALLBACK))[-1]
    return view, bot.slack.submit(view, values)


# ----- kill switches: request, decide, revert


def incident_channel(bot: RunningBot, text: str = "declare sev1 Org Chat exfiltration", members: int = 0) -> Channel:
    channel = declare(bot, text)
    channel.members.update({BOB, CAROL, *(f"U0MEMBER{i:02d}" for i in range(members))})
    return channel


def request(
    bot: RunningBot, channel: Channel, key: str, values: dict[str, Any] | None = None, user: str = ALICE
) -> tuple[str, dict[str, Any]]:
    """`/incident killswitch KEY`, fill the form, wait for the card; returns the request id and the card."""
    before, known = len(bot.fake.open_views(REQUEST_CALLBACK)), approve_buttons(channel)
    bot.slack.command(f"killswitch {key}", user=user, channel_id=channel.id)
    view = bot.fake.wait_until(
        lambda: len(bot.fake.open_views(REQUEST_CALLBACK)) > before and bot.fake.open_views(REQUEST_CALLBACK)[-1]
    )
    response = bot.slack.submit(view, {"reason": "scope unclear, stop the bleeding", **(values or {})}, user=user)
    assert response.status_code == 200 and response.text == "", response.text
    return wait_card(bot, channel, known)


def request_revert(bot: RunningBot, channel: Channel, card: dict[str, Any], reason: str) -> tuple[str, dict[str, Any]]:
    """Bob clicks Revert… on an executed card and gives `reason`; returns the revert request's id and card."""
    revert = next(e for e in buttons(card) if e["action_id"] == "switch.revert")
    bot.slack.click("switch.revert", revert["value"], user=BOB, channel_id=channel.id, message_ts=card["ts"])
    view = bot.fake.wait_until(lambda: bot.fake.open_views(REVERT_CALLBACK))[-1]
    assert bot.slack.submit(view, {"reason": reason}, user=BOB).text == ""
    return bot.fake.wait_until(  # type: ignore[no-any-return]
        lambda: next(
            (
                (e["value"], m)
                for m in channel.messages.values()
                for e in buttons(m)
                if e["action_id"] == "switch.approve" and "Revert:" in text_of(m)
            ),
            None,
        )
    )


def approve_buttons(channel: Channel) -> set[str]:
    """The values of the Approve buttons in the channel: the requests waiting for a second person."""
    return {e["value"] for m in channel.messages.values() for e in buttons(m) if e["action_id"] == "switch.approve"}


def wait_card(bot: RunningBot, channel: Channel, known: set[str] | None = None) -> tuple[str, dict[str, Any]]:
    """The newest request card of the channel whose Approve button is not among `known` (the ones there before
    the request), once the bot has recorded it as the request's card."""
    seen = known or set()
    approval, card = bot.fake.wait_until(
        lambda: next(
            (
                (e["value"], m)
                for m in reversed(list(channel.messages.values()))
                for e in buttons(m)
                if e["action_id"] == "switch.approve" and e["value"] not in seen
            ),
            None,
        )
    )
    recorded = bot.services.approvals.cards
    bot.fake.wait_until(lambda: (channel.id, card["ts"]) in recorded(request_id(approval)))
    return approval, card


def request_id(approval: str) -> str:
    """The request id inside an Approve button's value."""
    return str(json.loads(approval)["request"])


def decide(
    bot: RunningBot, channel: Channel, card: dict[str, Any], approval: str, user: str, action: str = "switch.approve"
) -> Any:
    return bot.slack.click(action, approval, user=user, channel_id=channel.id, message_ts=card["ts"])


def approve(bot: RunningBot, channel: Channel, card: dict[str, Any], approval: str) -> None:
    """Bob approves the request on its card; returns once the card says so."""
    decide(bot, channel, card, approval, BOB)
    bot.fake.wait_until(lambda: "Approved by" in text_of(card))


def logged_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The events the event log subscriber wrote (caplog set to INFO for `bot.events`)."""
    return [record.__dict__["event"] for record in caplog.records if record.name == "bot.events"]


def audit_kinds(bot: RunningBot, number: int = 1) -> list[AuditKind]:
    return [entry.kind for entry in bot.services.approvals.audit.entries(number)]


def unknown_refresh(bot: RunningBot, channel: Channel, org: FakeSalesforce) -> dict[str, Any]:
    """Playbook 3's "Force a config refresh", run once, its Apex answered too late: outcome unknown."""
    contain = open_phase(bot, channel, "cache-wedge", "contain")
    org.inject(r"executeAnonymous", "timeout")
    click(bot, channel, contain, "step.run", "refresh-config")
    view = bot.fake.wait_until(lambda: bot.fake.open_views(RUN_CALLBACK))[-1]
    assert bot.slack.submit(view, {}).text == ""
    bot.fake.wait_until(lambda: state(bot, "cache-wedge", "refresh-config").status.value == "unknown", timeout=15)
    return contain


# ----- processes: the worker's environment, a deployment, stopping


def worker_env(bot: RunningBot, org: FakeSalesforce) -> dict[str, str]:
    settings = bot.services.settings
    env = {
        "PATH": os.environ["PATH"],
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": settings.slack_api_base_url,
        "REDIS_URL": settings.redis_url.get_secret_value() if settings.redis_url else "",
        "KEY_PREFIX": settings.key_prefix,
        "REQUESTS_CA_BUNDLE": str(org.cert_file),
        "LOG_LEVEL": "WARNING",
    }
    env.update({k.upper(): str(v) for k, v in jwt_settings(org).items()})
    for name in (
        "anthropic_status_url",
        "openai_status_url",
        "aws_status_feeds_url",
        "bedrock_regions",
        "azure_status_url",
    ):
        env[name.upper()] = getattr(settings, name)
    return env


def kill_session(session: int) -> None:
    """SIGKILL to every process of a session (RQ's work horse leaves its parent's process group, not its session),
    again until none is left: a process forked while the first pass ran would outlive it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":  # state, ppid, pgrp, session; a zombie is dead
                found = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(stat.parent.name), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of session {session} survived SIGKILL for 10 s")


@contextmanager
def serving(
    args: list[str], env: dict[str, str], cwd: Path, port: int, output: IO[bytes] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`incident-bot ARGS` on loopback until /healthz answers on `port`; stopped with Ctrl-C (SIGINT to its
    group) after. Its output goes to `output` (both streams), or nowhere."""
    process = spawn(*args, env=env, cwd=cwd, output=output)
    try:
        wait_healthy(port)
        yield process
    finally:
        stop(process)


def wait_healthy(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"nothing healthy on port {port}")


def stop(process: subprocess.Popen[bytes]) -> int:
    """Ctrl-C, as a terminal sends it: SIGINT to the whole process group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    return process.wait(timeout=30)


AUDIT_KEY = "audit-signing-key-that-must-stay-put-7f3e"


def deployment_env(
    fake_slack: FakeSlack, pages: FakeStatusPages, org: FakeSalesforce, redis_url: str, tmp_path: Path, port: int
) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": fake_slack.base_url,
        "REDIS_URL": redis_url,
        "KEY_PREFIX": new_prefix(),
        "AUDIT_SIGNING_KEY": AUDIT_KEY,
        "SALESFORCE_DOMAIN": org.url,
        "SALESFORCE_USERNAME": USERNAME,
        "FM_CONFIG_RECORD": "Default",
        "SALESFORCE_PASSWORD": PASSWORD,
        "SALESFORCE_SECURITY_TOKEN": SECURITY_TOKEN,
        "SALESFORCE_CONSUMER_KEY": CONSUMER_KEY,
        "SALESFORCE_CONSUMER_SECRET": CONSUMER_SECRET,
        "REQUESTS_CA_BUNDLE": str(org.cert_file),
        "DATA_DIR": str(tmp_path / "var"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "DEBUG",
        **{name.upper(): str(value) for name, value in pages.settings().items()},
    }


def server_pids(data_dir: Path) -> list[int]:
    """The redis-server processes whose working directory is `data_dir`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if "redis-server" in (proc / "cmdline").read_text() and Path(os.readlink(proc / "cwd")) == data_dir:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


# ----- resolving


def resolve(bot: RunningBot, channel: Channel) -> None:
    bot.slack.command("resolve", channel_id=channel.id)
    view = bot.fake.wait_until(lambda: bot.fake.open_views("incident.resolve"))[-1]
    assert bot.slack.submit(view, {"root_cause": "A provider outage."}).text == ""
    bot.fake.wait_until(lambda: any("is resolved" in t for t in ephemeral_texts(bot)))


def measured_before(bot: RunningBot, minutes: int = 60) -> None:
    """The worker's measurement of the growth probes `minutes` ago: its sweep then, and the job it queued."""
    now = bot.clock.now()
    bot.clock.set(now - timedelta(minutes=minutes))
    try:
        bot.services.sweep()
        assert bot.run_jobs() == 0
    finally:
        bot.clock.set(now)
