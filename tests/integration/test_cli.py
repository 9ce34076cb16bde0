"""The `incident-bot` command line: help, refusing bad settings in one sentence, and serving HTTP for real."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, new_prefix, run_cli, spawn
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.slack_sim import SIGNING_SECRET, SlackSim


@pytest.mark.parametrize("command", ["run", "worker"])
def test_each_command_has_help(command: str, tmp_path: Path) -> None:
    result = run_cli(command, "--help", env={}, cwd=tmp_path)
    assert result.returncode == 0
    assert f"usage: incident-bot {command}" in result.stdout


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({}, "Cannot start: SLACK_BOT_TOKEN is missing (set it in .env or the environment)."),
        (
            {"SLACK_BOT_TOKEN": "xoxp-user-token"},
            "Cannot start: SLACK_BOT_TOKEN must be a bot token, which starts with xoxb- "
            "(set it in .env or the environment).",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xoxb-wrong"},
            "Cannot start: SLACK_APP_TOKEN must be an app-level token, which starts with xapp- "
            "(set it in .env or the environment).",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN},
            "Cannot start: SLACK_SIGNING_SECRET is missing, and HTTP mode (no SLACK_APP_TOKEN) needs it to verify "
            "Slack's requests (set it in .env or the environment).",
        ),
    ],
)
def test_bad_settings_stop_the_bot_with_one_sentence(env: dict[str, str], sentence: str, tmp_path: Path) -> None:
    result = run_cli("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == sentence + "\n"


def test_settings_come_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxp-from-dotenv\n")
    result = run_cli("run", env={}, cwd=tmp_path)
    assert "SLACK_BOT_TOKEN must be a bot token" in result.stderr


def test_run_serves_slack_over_http_under_gunicorn(fake_slack: FakeSlack, redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": fake_slack.base_url,
        "REDIS_URL": redis_url,
        "KEY_PREFIX": new_prefix("test-cli"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }
    log = (tmp_path / "run.log").open("w+b")
    process = spawn("run", env=env, cwd=tmp_path, output=log)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or a worker still booting
                time.sleep(0.1)
        else:
            raise AssertionError("the web process did not come up")
        sim = SlackSim(f"{base}/slack/events", fake_slack)
        answer = sim.command("help")
        assert answer.status_code == 200 and "Here is what `/incident` can do" in answer.json()["text"]
        assert sim.command("help", secret="forged").status_code == 401
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    log.seek(0)
    assert f"Listening at: http://127.0.0.1:{port}" in log.read().decode()  # HOST: loopback only
