"""Secrets stay secret through a full run: the web server and the worker as a deployment runs them (gunicorn, RQ),
every secret configured, logs at DEBUG; an incident declared, a kill switch requested, approved, executed in the
org and verified, a forged request, oversized bodies, the post-mortem. No configured secret, and no Salesforce
session, reaches a log line, a Slack message, Redis (the audit trail included) or the post-mortem."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import redis
import requests

from bot.logs import SIGNATURE_REFUSED
from bot.render.switches import REQUEST_CALLBACK
from bot.web import EVENTS_PATH, MAX_BODY_BYTES
from tests.conftest import delete_prefix, free_port, spawn
from tests.driver import ALICE, AUDIT_KEY, BOB, CAROL, buttons, deployment_env, kill_session, serving, stop, text_of
from tests.fakes.salesforce import CONSUMER_KEY, CONSUMER_SECRET, PASSWORD, SECURITY_TOKEN, USERNAME, FakeSalesforce
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SIGNING_SECRET, SlackSim

FORGED_MARKER = "forged-body-with-a-capability"
PRIVATE_WORDS = ("Quokka exfiltration title", "Wombat note for the timeline", "Numbat reason to switch off")


def every_value(client: redis.Redis, prefix: str) -> Iterator[str]:
    """Every string Redis holds under `prefix`, whatever the key's type."""
    for key in client.scan_iter(f"{prefix}:*"):
        kind = client.type(key)
        if kind == "string":
            yield str(client.get(key))
        elif kind == "hash":
            yield json.dumps(client.hgetall(key))
        elif kind == "list":
            yield json.dumps(client.lrange(key, 0, -1))
        elif kind in ("set", "zset"):
            yield json.dumps(sorted(client.zrange(key, 0, -1) if kind == "zset" else client.smembers(key)))
        elif kind == "stream":
            yield json.dumps(client.xrange(key))


def test_no_secret_reaches_a_log_a_message_redis_or_the_postmortem(
    fake_slack: FakeSlack, status_pages: FakeStatusPages, fake_org: FakeSalesforce, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = deployment_env(fake_slack, status_pages, fake_org, redis_url, tmp_path, port)
    url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
    slack = SlackSim(url, fake_slack)
    log_file = tmp_path / "run.log"
    with log_file.open("wb") as log:
        worker = spawn("worker", env=env, cwd=tmp_path, output=log)
        try:
            with serving(["run"], env, tmp_path, port, output=log):
                slack.command("declare sev1 Org Chat exfiltration")
                channel = fake_slack.wait_until(
                    lambda: (found := fake_slack.channel_named("inc-1-")) and ALICE in found.members and found,
                    timeout=20,
                )
                channel.members.update({BOB, CAROL})
                slack.command("killswitch org-chat-off", channel_id=channel.id)
                form = fake_slack.wait_until(lambda: fake_slack.open_views(REQUEST_CALLBACK))[-1]
                assert slack.submit(form, {"reason": "stop the bleeding"}).text == ""
                card = fake_slack.wait_until(
                    lambda: next(
                        (
                            m
                            for m in channel.messages.values()
                            if any(b["action_id"] == "switch.approve" for b in buttons(m))
                        ),
                        None,
                    )
                )
                approval = next(b["value"] for b in buttons(card) if b["action_id"] == "switch.approve")
                slack.click("switch.approve", approval, user=BOB, channel_id=channel.id, message_ts=card["ts"])
                fake_slack.wait_until(lambda: "*Verified*" in text_of(card), timeout=30)

                forged = f"text={FORGED_MARKER}&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0%2F1%2Fsecret"
                assert (
                    slack.post(forged, "application/x-www-form-urlencoded", secret="not-the-secret").status_code == 401
                )
                too_big = requests.post(url, data=b"x" * (MAX_BODY_BYTES + 1), timeout=30)
                chunked = requests.post(url, data=iter([b"x" * 65536] * 64), timeout=30)  # no Content-Length
                assert (too_big.status_code, chunked.status_code) == (413, 413)

                slack.command("postmortem", channel_id=channel.id)
                canvas = fake_slack.wait_until(lambda: next(iter(fake_slack.canvases.values()), None), timeout=20)

                # a private incident: its words reach no log line, at DEBUG either
                slack.command(f"declare --private sev2 {PRIVATE_WORDS[0]}")
                private = fake_slack.wait_until(
                    lambda: (found := fake_slack.channel_named("inc-2-")) and ALICE in found.members and found,
                    timeout=20,
                )
                private.members.add(BOB)
                slack.command(f"note {PRIVATE_WORDS[1]}", channel_id=private.id)
                slack.command("killswitch org-chat-dml-off", channel_id=private.id)
                form = fake_slack.wait_until(lambda: fake_slack.open_views(REQUEST_CALLBACK)[1:])[-1]
                assert slack.submit(form, {"reason": PRIVATE_WORDS[2]}).text == ""
                fake_slack.wait_until(
                    lambda: any("switch.approve" in json.dumps(m.get("blocks", [])) for m in private.messages.values()),
                    timeout=20,
                )
        finally:
            try:
                stop(worker)
            finally:
                kill_session(worker.pid)  # nothing is left, whatever happened

    logs = log_file.read_text()
    assert '"level": "debug"' in logs and '"logger": "bot.audit"' in logs  # the run was logged, at DEBUG
    assert [word for word in PRIVATE_WORDS if word.split()[0] in logs] == []
    assert SIGNATURE_REFUSED in logs and FORGED_MARKER not in logs and "hooks.slack.com" not in logs
    secrets = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "AUDIT_SIGNING_KEY": AUDIT_KEY,
        "SALESFORCE_PASSWORD": PASSWORD,
        "SALESFORCE_SECURITY_TOKEN": SECURITY_TOKEN,
        "SALESFORCE_CONSUMER_SECRET": CONSUMER_SECRET,
        **{f"Salesforce session {n}": token for n, token in enumerate(sorted(fake_org.valid_tokens))},
    }
    assert fake_org.logins >= 2  # the web process and the worker each logged in: both sessions are looked for
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        stored = "\n".join(every_value(client, env["KEY_PREFIX"]))
        assert "hmac-sha256" in stored  # the audit trail is in what was searched
    finally:
        delete_prefix(client, env["KEY_PREFIX"])
        client.close()
    places = {
        "the logs": logs,
        "Slack": json.dumps([call.args for call in fake_slack.calls]),
        "Redis": stored,
        "the post-mortem": json.dumps(canvas),
    }
    leaks = [
        f"{name} in {place}" for name, secret in secrets.items() for place, text in places.items() if secret in text
    ]
    assert leaks == []


def test_credentials_and_sessions_do_not_print_their_secrets() -> None:
    from bot.adapters.salesforce.login import Credentials, Session

    credentials = Credentials(
        mode="password",
        domain="login",
        api_version="62.0",
        username=USERNAME,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        password=PASSWORD,
        security_token=SECURITY_TOKEN,
        access_token="00D000000000001!SESSION",
    )
    session = Session(
        access_token="00D000000000001!SESSION", instance_url="https://acme.my.salesforce.com", user_id=None
    )
    shown = f"{credentials!r} {credentials} {session!r} {session}"
    assert USERNAME in shown and "acme.my.salesforce.com" in shown
    for secret in (CONSUMER_SECRET, PASSWORD, SECURITY_TOKEN, "00D000000000001!SESSION"):
        assert secret not in shown
