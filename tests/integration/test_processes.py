"""More than one process: two web processes (gunicorn, WEB_CONCURRENCY=2) and two workers against one Redis,
under Slack's rate limits, give what one of each gives: one channel per declaration, one execution per
approval, no message posted twice, and every message ending as Redis says it should."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.adapters.slack_api import build_web_client
from bot.app import build_services
from bot.config import Settings
from bot.render.switches import REQUEST_CALLBACK
from bot.web import EVENTS_PATH
from tests.conftest import free_port, spawn
from tests.driver import ALICE, buttons, deployment_env, kill_session, serving, stop, text_of
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.slack import FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SlackSim

DECLARATIONS = 3
APPROVERS = [f"U0APPR{n:03d}" for n in range(20)]


def test_two_web_processes_and_two_workers_act_as_one(
    fake_slack: FakeSlack,
    status_pages: FakeStatusPages,
    fake_org: FakeSalesforce,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    env = {**deployment_env(fake_slack, status_pages, fake_org, redis_url, tmp_path, port), "LOG_LEVEL": "INFO"}
    env["WEB_CONCURRENCY"] = "2"
    slack = SlackSim(f"http://127.0.0.1:{port}{EVENTS_PATH}", fake_slack)
    workers = [spawn("worker", env=env, cwd=tmp_path) for _ in range(2)]
    try:
        with (tmp_path / "run.log").open("wb") as log, serving(["run"], env, tmp_path, port, output=log):
            # each declaration delivered twice at once, as Slack retries a slow one: the two copies may land
            # in different web processes
            bodies = [slack.command_body(f"declare sev2 Outage {n}", ALICE, "C0GENERAL") for n in range(DECLARATIONS)]
            sends = [
                threading.Thread(target=slack.post_form, args=(body,), kwargs=options)
                for body in bodies
                for options in (
                    {},  # Slack signs a retry anew, with the time it sends it
                    {"timestamp": int(time.time()) + 1, "headers": {"X-Slack-Retry-Num": "1"}},
                )
            ]
            for send in sends:
                send.start()
            for send in sends:
                send.join()
            channels = fake_slack.wait_until(
                lambda: (
                    len([c for c in fake_slack.channels.values() if c.name.startswith("inc-")]) >= DECLARATIONS
                    and [c for c in fake_slack.channels.values() if c.name.startswith("inc-")]
                ),
                timeout=30,
            )
            channel = next(c for c in channels if c.name.startswith("inc-1-"))
            channel.members.update(APPROVERS)

            # twenty people click Done and N/A on the first five minutes at once, through both web processes
            checklist = fake_slack.wait_until(
                lambda: next((m for m in channel.messages.values() if "step.done" in text_of(m)), None), timeout=30
            )
            clicks = [
                threading.Thread(
                    target=slack.click,
                    args=(e["action_id"], e["value"]),
                    kwargs={"user": user, "channel_id": channel.id, "message_ts": checklist["ts"]},
                )
                for user in APPROVERS[:4]
                for e in buttons(checklist)
                if e["action_id"] in ("step.done", "step.na")
            ]
            for click in clicks:
                click.start()
            for click in clicks:
                click.join()

            # one kill switch, approved by twenty people at once: sent to the org once
            slack.command("killswitch org-chat-off", channel_id=channel.id)
            form = fake_slack.wait_until(lambda: fake_slack.open_views(REQUEST_CALLBACK), timeout=20)[-1]
            assert slack.submit(form, {"reason": "stop the bleeding"}).text == ""
            card = fake_slack.wait_until(
                lambda: next((m for m in channel.messages.values() if "switch.approve" in text_of(m)), None),
                timeout=20,
            )
            approve = next(b["value"] for b in buttons(card) if b["action_id"] == "switch.approve")
            approvals = [
                threading.Thread(
                    target=slack.click,
                    args=("switch.approve", approve),
                    kwargs={"user": user, "channel_id": channel.id, "message_ts": card["ts"]},
                )
                for user in APPROVERS
            ]
            for approval in approvals:
                approval.start()
            for approval in approvals:
                approval.join()
            fake_slack.wait_until(lambda: "*Verified*" in text_of(card), timeout=60)

            # then quiet: every message settles on what Redis holds
            settings = Settings(_env_file=None, **{k.lower(): v for k, v in env.items() if k != "PATH"})  # type: ignore[call-arg]
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake_org.cert_file))
            services = build_services(settings, build_web_client(settings.bot_token, settings.slack_api_base_url))
            try:
                incident = services.incidents.in_channel(channel.id)
                assert incident is not None
                names = services.present.walkthrough.names(incident.number)

                def settled() -> bool:
                    for name in names:
                        latest = services.present.walkthrough.latest(incident.number, name)
                        assert latest is not None
                        if json.dumps(channel.messages[latest.ts]["blocks"]) != json.dumps(latest.blocks):
                            return False
                    return True

                fake_slack.wait_until(settled, timeout=30)
            finally:
                services.close()
    finally:
        for worker in workers:
            try:
                stop(worker)
            finally:
                kill_session(worker.pid)

    inc = [c for c in fake_slack.channels.values() if c.name.startswith("inc-")]
    assert sorted(c.name.split("-")[1] for c in inc) == [str(n) for n in range(1, DECLARATIONS + 1)]
    assert fake_org.metadata_updates == 1 and fake_org.refreshes == 1
    for each in inc:
        posted = Counter(
            m.get("text", "").split("\n")[0] for m in each.messages.values() if m.get("user") == "U0BOT0001"
        )
        twice = {text: n for text, n in posted.items() if n > 1 and text}
        assert twice == {}, f"posted twice in {each.name}: {twice}"
