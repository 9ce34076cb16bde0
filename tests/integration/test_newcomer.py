"""A newcomer's first hour: every mistake gets one sentence and a non-zero exit, settings work from .env and
from the environment alike, read-only commands need no Slack, and a clean stop leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
import requests

from tests.conftest import free_port, run_cli, spawn
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.fakes.socket_mode import FakeSocketMode
from tests.integration.test_storage import server_pids
from tests.slack_sim import SIGNING_SECRET, SlackSim

ROOT = Path(__file__).resolve().parents[2]


def one_sentence(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The process exited with `code` and said exactly one line on standard error, with no trace."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and result.stdout == "", result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["run"], ["worker"]])
@pytest.mark.parametrize(
    ("problem", "sentence"),
    [
        (
            "wrong token",
            "Cannot start: Slack does not know this SLACK_BOT_TOKEN: copy it again from OAuth & Permissions → Bot User "
            "OAuth Token (Slack said invalid_auth).",
        ),
        (
            "revoked token",
            "Cannot start: this SLACK_BOT_TOKEN was revoked: reinstall the app to the workspace and copy the new one "
            "from OAuth & Permissions → Bot User OAuth Token (Slack said token_revoked).",
        ),
        ("unreachable", "Cannot start: Slack is unreachable at http://127.0.0.1:{port}/api/ (URLError)"),
    ],
)
def test_a_bad_or_unreachable_token_is_one_sentence(
    command: list[str], problem: str, sentence: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-not-the-right-one" if problem == "wrong token" else BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": fake_slack.base_url,
        "DATA_DIR": str(tmp_path / "var"),
        "PORT": str(free_port()),
    }
    if problem == "revoked token":
        fake_slack.inject("auth.test", error="token_revoked")
    if problem == "unreachable":
        port = free_port()
        env["SLACK_API_BASE_URL"] = f"http://127.0.0.1:{port}/api/"
        sentence = sentence.format(port=port)
    said = one_sentence(run_cli(*command, env=env, cwd=tmp_path))
    assert said.startswith(sentence)
    assert server_pids((tmp_path / "var").resolve()) == []


def test_socket_mode_with_a_wrong_app_token_is_one_sentence(fake_slack: FakeSlack, tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-1-wrong", "SLACK_API_BASE_URL": fake_slack.base_url}
    assert one_sentence(run_cli("run", env=env, cwd=tmp_path)) == (
        "Cannot start: Slack does not know this SLACK_APP_TOKEN: copy it again from Basic Information → App-Level "
        "Tokens (Slack said invalid_auth)."
    )


def test_a_short_audit_signing_key_is_one_sentence(tmp_path: Path) -> None:
    env = {"AUDIT_SIGNING_KEY": "password1", "DATA_DIR": str(tmp_path / "var")}
    assert one_sentence(run_cli("audit", "verify", "1", env=env, cwd=tmp_path)) == (
        "Cannot start: AUDIT_SIGNING_KEY must be at least 32 characters (make one with `openssl rand -hex 32`) (set "
        "it in .env or the environment)."
    )


def test_the_example_env_file_copied_unchanged_names_what_to_fill_in(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    assert one_sentence(run_cli("run", env={}, cwd=tmp_path)) == (
        "Cannot start: SLACK_BOT_TOKEN is missing (set it in .env or the environment)."
    )


def test_an_env_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    assert one_sentence(run_cli("--env-file", "missing.env", "run", env={}, cwd=tmp_path)) == (
        "Cannot start: the env file missing.env does not exist."
    )


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


def test_settings_in_dotenv_work_like_the_environment_from_any_directory(fake_slack: FakeSlack, tmp_path: Path) -> None:
    port = free_port()
    env_file = tmp_path / "config" / "bot.env"
    env_file.parent.mkdir()
    env_file.write_text(
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_SIGNING_SECRET={SIGNING_SECRET}\nSLACK_API_BASE_URL={fake_slack.base_url}\n"
        f"DATA_DIR={tmp_path / 'var'}\nPORT={port}\nWEB_CONCURRENCY=1\nLOG_LEVEL=WARNING\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with serving(["run", "--env-file", str(env_file)], {}, elsewhere, port):
        answer = SlackSim(f"http://127.0.0.1:{port}/slack/events", fake_slack).command("help")
        assert answer.status_code == 200 and "Here is what `/incident` can do" in answer.json()["text"]


def test_a_clean_stop_leaves_no_process_or_folder_behind(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """`make run` and `make worker` on a laptop: no REDIS_URL, so they share the embedded Redis in DATA_DIR."""
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": fake_slack.base_url,
        "DATA_DIR": str(tmp_path / "var"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    temp_before = set(Path(tempfile.gettempdir()).iterdir())
    data_dir = (tmp_path / "var").resolve()
    worker = spawn("worker", env=env, cwd=tmp_path)
    try:
        with serving(["run"], env, tmp_path, port) as web:
            fake_slack.wait_until(lambda: len(server_pids(data_dir)) == 1 and worker.poll() is None)  # one, shared
            answer = SlackSim(f"http://127.0.0.1:{port}/slack/events", fake_slack).command("declare sev3 Laptop try")
            assert answer.status_code == 200
            fake_slack.wait_until(lambda: fake_slack.channel_named("inc-1-laptop-try"))
            assert stop(web) == 0
            assert len(server_pids(data_dir)) == 1  # the worker still holds it
    finally:
        assert stop(worker) == 0
    assert server_pids(data_dir) == []
    assert set(Path(tempfile.gettempdir()).iterdir()) <= temp_before
    assert not (Path.home() / ".gunicorn").exists()


def test_read_only_commands_need_no_slack(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "var")}
    verify = run_cli("audit", "verify", "7", env=env, cwd=tmp_path)
    assert (verify.returncode, verify.stderr) == (2, "There is no incident 7.\n")
    postmortem = run_cli("postmortem", "7", env=env, cwd=tmp_path)
    assert (postmortem.returncode, postmortem.stderr) == (2, "There is no incident 7.\n")
    assert run_cli("playbooks", "check", env=env, cwd=tmp_path).returncode == 0


def test_doctor_with_a_wrong_token_prints_only_its_checks(fake_slack: FakeSlack, tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-not-the-right-one",
        "SLACK_API_BASE_URL": fake_slack.base_url,
        "DATA_DIR": str(tmp_path / "var"),
    }
    result = run_cli("doctor", env=env, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "FAIL  Slack scopes: Slack does not know this SLACK_BOT_TOKEN: copy it again from OAuth & Permissions → Bot "
        "User OAuth Token (Slack said invalid_auth)"
    )
    assert all(line.startswith(("PASS  ", "WARN  ", "FAIL  ")) for line in lines)


def test_socket_mode_on_a_laptop_runs_the_declare_flow(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """`make run` with SLACK_APP_TOKEN: a slash command, a click and an event arrive over the WebSocket, each is
    acknowledged with its envelope_id, and each does its work; Ctrl-C then stops everything."""
    socket_mode = FakeSocketMode().start()
    fake_slack.socket_mode_url = lambda: socket_mode.url
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_BASE_URL": fake_slack.base_url,
        "DATA_DIR": str(tmp_path / "var"),
    }
    sim = SlackSim("unused", fake_slack)
    process = spawn("run", env=env, cwd=tmp_path)
    try:
        socket_mode.wait_connected()
        command = sim.command_body("declare sev2 Tried on a laptop", "U0ALICE01", "C0GENERAL")
        ack = socket_mode.send("slash_commands", command, accepts_response_payload=True)
        assert ack["payload"]["text"] == "Declaring SEV-2: Tried on a laptop…"
        channel = fake_slack.wait_until(lambda: fake_slack.channel_named("inc-1-tried-on-a-laptop"))
        checklist = fake_slack.wait_until(
            lambda: next((m for m in channel.messages.values() if "First five minutes" in m.get("text", "")), None)
        )
        value = next(
            e["value"]
            for b in checklist["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "step.done" and json.loads(e["value"])["step"] == "vendor-status"
        )
        click = sim.click_body("step.done", value, user="U0ALICE01", channel_id=channel.id, message_ts=checklist["ts"])
        assert socket_mode.send("interactive", click)["envelope_id"]
        fake_slack.wait_until(lambda: "Done by <@U0ALICE01>" in json.dumps(checklist["blocks"]))
        posted = fake_slack.user_message(channel.id, "U0BOB0001", "Rolled back the 14:02 deploy")
        reaction = {
            "type": "reaction_added",
            "user": "U0BOB0001",
            "reaction": "pushpin",
            "item": {"type": "message", "channel": channel.id, "ts": posted["ts"]},
            "event_ts": posted["ts"],
        }
        assert socket_mode.send("events_api", sim.event_body(reaction))["envelope_id"]
        fake_slack.wait_until(lambda: fake_slack.calls_to("chat.getPermalink"))  # captured for the timeline
        assert socket_mode.strays == []
    finally:
        assert stop(process) == 0
        socket_mode.stop()
    assert server_pids((tmp_path / "var").resolve()) == []
