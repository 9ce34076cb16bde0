"""A newcomer's first hour: every mistake gets one sentence and a non-zero exit, settings work from .env and
from the environment alike, read-only commands need no Slack, and a clean stop leaves nothing behind."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests
from rq import Queue

from bot.worker import STOPS_ASKED, PromptWorker, keep_stops
from tests.conftest import free_port, new_prefix, run_cli, spawn
from tests.driver import kill_session, server_pids, serving, stop, wait_healthy
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.fakes.slack_openid import CLIENT_ID as OPENID_CLIENT_ID
from tests.fakes.slack_openid import CLIENT_SECRET as OPENID_CLIENT_SECRET
from tests.fakes.socket_mode import FakeSocketMode
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


def laptop_env(fake_slack: FakeSlack, tmp_path: Path, port: int) -> dict[str, str]:
    """`make run` on a laptop over HTTP: no REDIS_URL (the embedded Redis in DATA_DIR), two web workers."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": fake_slack.base_url,
        "DATA_DIR": str(tmp_path / "var"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }


def test_one_command_runs_the_bot_and_its_worker_and_one_ctrl_c_stops_everything(
    fake_slack: FakeSlack, tmp_path: Path, process_sandbox: Path
) -> None:
    """`make run` on a laptop: no REDIS_URL, so the web process and the worker it starts share the embedded Redis in
    DATA_DIR; doctor sees the worker; one Ctrl-C stops every process, and nothing is left in the sandbox's HOME and
    temporary folder."""
    port = free_port()
    env = laptop_env(fake_slack, tmp_path, port)
    data_dir = (tmp_path / "var").resolve()
    with serving(["run"], env, tmp_path, port) as bot:
        fake_slack.wait_until(lambda: len(server_pids(data_dir)) == 1)  # one, shared
        doctor = fake_slack.wait_until(
            lambda: "worker(s) serve" in (found := run_cli("doctor", env=env, cwd=tmp_path).stdout) and found,
            timeout=30,
        )
        assert "PASS  Worker: 1 worker(s) serve the bot's queues, approved executions included" in doctor
        answer = SlackSim(f"http://127.0.0.1:{port}/slack/events", fake_slack).command("declare sev3 Laptop try")
        assert answer.status_code == 200
        fake_slack.wait_until(lambda: fake_slack.channel_named("inc-1-laptop-try"))
        session = bot.pid
        assert len(in_session(session)) >= 4  # the command, gunicorn's master and workers, the worker
    assert bot.returncode == 0
    assert in_session(session) == [] and server_pids(data_dir) == []
    assert list((process_sandbox / "tmp").iterdir()) == []
    assert list((process_sandbox / "home").iterdir()) == []  # no ~/.gunicorn, nothing else


@pytest.mark.parametrize("after", [0.0, 0.3, 0.7, 1.2, 2.0])
def test_a_ctrl_c_while_the_bot_starts_stops_every_process_quietly(
    after: float, fake_slack: FakeSlack, tmp_path: Path, process_sandbox: Path
) -> None:
    """Ctrl-C at any moment of the start once the command has started its processes, whichever of them is then
    importing, forking or booting: each stops (one that missed it or swallowed it served on until the 30 s
    stop), none prints a traceback, and no embedded Redis is left."""
    env = laptop_env(fake_slack, tmp_path, free_port())
    output = tmp_path / "output.log"
    with output.open("wb") as sink:
        bot = spawn("run", env=env, cwd=tmp_path, output=sink)
        try:
            fake_slack.wait_until(lambda: len(in_session(bot.pid)) >= 3)  # the command, the web process, the worker
            time.sleep(after)
            assert stop(bot) == 0
        finally:
            kill_session(bot.pid)
    assert "Traceback" not in output.read_text()
    assert in_session(bot.pid) == [] and server_pids((tmp_path / "var").resolve()) == []


def test_a_ctrl_c_before_the_command_starts_its_processes_ends_it_quietly(
    fake_slack: FakeSlack, tmp_path: Path, process_sandbox: Path
) -> None:
    """Ctrl-C while the command itself is still starting (importing, reading its settings, or waiting for Slack's
    answer to `auth.test`, slow here): it ends at once with the shell's 130, and prints no traceback."""
    fake_slack.latency = 10.0
    output = tmp_path / "output.log"
    with output.open("wb") as sink:
        bot = spawn("run", env=laptop_env(fake_slack, tmp_path, free_port()), cwd=tmp_path, output=sink)
        try:
            time.sleep(1.5)
            assert stop(bot) == 130
        finally:
            kill_session(bot.pid)
    assert output.read_text() == ""
    assert in_session(bot.pid) == [] and server_pids((tmp_path / "var").resolve()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_asked_of_the_command_alone_stops_every_process(
    signum: int, fake_slack: FakeSlack, tmp_path: Path, process_sandbox: Path
) -> None:
    """`kill` (SIGTERM), or the terminal closed (SIGHUP), reaches `incident-bot run` alone: it stops the web
    process and the worker it started, and leaves no embedded Redis."""
    port = free_port()
    bot = spawn("run", env=laptop_env(fake_slack, tmp_path, port), cwd=tmp_path)
    try:
        wait_healthy(port)
        os.kill(bot.pid, signum)
        assert bot.wait(timeout=30) == 0
    finally:
        kill_session(bot.pid)
    assert in_session(bot.pid) == [] and server_pids((tmp_path / "var").resolve()) == []


def test_a_stop_that_reaches_a_web_worker_while_it_boots_is_not_lost(
    fake_slack: FakeSlack, tmp_path: Path, process_sandbox: Path
) -> None:
    """A SIGTERM to the web process's group (the supervisor's stop) while gunicorn's worker is between its fork and
    its own handlers (three seconds here, `tests/slow_fork_gunicorn.py`): the worker stops once its handlers are
    in. It used to run the master's handler there and lose it, and the master waited its 30 s graceful timeout."""
    env = laptop_env(fake_slack, tmp_path, free_port())
    env |= {"WEB_CONCURRENCY": "1", "PYTHONPATH": str(ROOT)}
    gunicorn = ["-m", "gunicorn", "--config", "python:tests.slow_fork_gunicorn", "bot.web:create_wsgi_app()"]
    output = tmp_path / "output.log"
    with output.open("wb") as sink:
        web = spawn(*gunicorn, env=env, cwd=tmp_path, output=sink, program=sys.executable)
        try:
            fake_slack.wait_until(lambda: "Booting worker" in output.read_text(), timeout=30)
            os.killpg(web.pid, signal.SIGTERM)
            assert web.wait(timeout=20) == 0
        finally:
            kill_session(web.pid)
    assert "SIGKILL" not in output.read_text()
    assert in_session(web.pid) == [] and server_pids((tmp_path / "var").resolve()) == []


def test_a_ctrl_c_before_the_worker_listens_stops_it_once_it_does(redis_url: str) -> None:
    """A Ctrl-C that came while the worker started (its KeyboardInterrupt would be lost inside a fork's
    callbacks) is kept, and acted on as soon as RQ listens: the worker takes no job and returns."""
    queue = f"{new_prefix()}-jobs"

    def worker() -> None:
        keep_stops()  # as `run_worker` does first
        os.kill(os.getpid(), signal.SIGINT)
        connection = redis.Redis.from_url(redis_url)
        PromptWorker([queue], name=f"{queue}-worker", connection=connection).work()
        os._exit(0 if Queue(queue, connection=connection).count == 1 else 3)

    Queue(queue, connection=redis.Redis.from_url(redis_url)).enqueue("builtins.print", "taken")
    process = multiprocessing.get_context("fork").Process(target=worker)
    process.start()
    process.join(timeout=20)
    serving_on = process.is_alive()
    if serving_on:
        process.kill()
        process.join()
    assert (serving_on, process.exitcode) == (False, 0)


def test_a_stop_in_a_fork_that_keeps_none_stops_it() -> None:
    """RQ forks its scheduler from a worker that keeps stops; a SIGTERM (the worker's teardown) that reaches the
    fork before its own handlers are in is not kept there, where nothing would act on it: the fork stops."""

    def scheduler() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(20)
        os._exit(0)

    def worker() -> None:
        keep_stops()
        fork = multiprocessing.get_context("fork").Process(target=scheduler)
        fork.start()
        fork.join(timeout=20)
        os.kill(os.getpid(), signal.SIGTERM)  # here a worker listens: kept, and this process goes on
        os._exit(0 if (fork.exitcode, STOPS_ASKED) == (-signal.SIGTERM, [signal.SIGTERM]) else 3)

    process = multiprocessing.get_context("fork").Process(target=worker)
    process.start()
    process.join(timeout=30)
    assert process.exitcode == 0


def in_session(session: int) -> list[int]:
    """The live processes of a session (a zombie has stopped)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_without_the_worker_doctor_says_so(fake_slack: FakeSlack, tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_BASE_URL": fake_slack.base_url, "DATA_DIR": str(tmp_path / "var")}
    lines = run_cli("doctor", env=env, cwd=tmp_path).stdout.splitlines()
    assert (
        "WARN  Worker: no worker is running for this bot right now: escalations, expiries, charts and approved kill "
        "switches wait for one; start `incident-bot worker` (or `incident-bot run`, which starts one)"
    ) in lines


def test_read_only_commands_need_no_slack(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "var")}
    verify = run_cli("audit", "verify", "7", env=env, cwd=tmp_path)
    assert (verify.returncode, verify.stderr) == (2, "There is no incident 7.\n")
    postmortem = run_cli("postmortem", "7", env=env, cwd=tmp_path)
    assert (postmortem.returncode, postmortem.stderr) == (2, "There is no incident 7.\n")
    assert run_cli("playbooks", "check", env=env, cwd=tmp_path).returncode == 0
    assert not (tmp_path / "var").exists()  # run elsewhere, they make no data folder there
    elsewhere = run_cli("audit", "verify", "--all", env={}, cwd=tmp_path)
    assert (elsewhere.returncode, elsewhere.stdout) == (
        0,
        "OK: 0 incidents, 0 audit entries (nothing is stored here yet).\n",
    )
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize(("where", "name"), [("/nonexistent", "/nonexistent"), ("README.md", "README.md")])
def test_playbooks_check_of_something_that_is_not_a_playbooks_directory_is_one_sentence(
    where: str, name: str, tmp_path: Path
) -> None:
    assert one_sentence(run_cli("playbooks", "check", where, env={}, cwd=ROOT), code=1) == (
        f"{name}: not a directory of playbooks (it holds severity.yaml, first-five-minutes.yaml, kill-switches.yaml "
        "and playbook-*.yaml)"
    )


def test_playbooks_commands_read_playbooks_dir_from_the_env_file(tmp_path: Path) -> None:
    copy = tmp_path / "our-playbooks"
    shutil.copytree(ROOT / "playbooks", copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (copy / "playbook-3-cache-wedge.yaml").write_text(
        (copy / "playbook-3-cache-wedge.yaml").read_text().replace("title: Cache wedge / stale state", "title: Wedged")
    )
    (tmp_path / "bot.env").write_text(f"PLAYBOOKS_DIR={copy}\n")
    shown = run_cli("playbooks", "show", "3", "--env-file", "bot.env", env={}, cwd=tmp_path)
    assert shown.returncode == 0 and "Wedged" in shown.stdout
    assert run_cli("playbooks", "check", "--env-file", "bot.env", env={}, cwd=tmp_path).returncode == 0


def test_version_help_and_the_makefile_say_what_there_is(tmp_path: Path) -> None:
    version = run_cli("--version", env={}, cwd=tmp_path)
    assert version.returncode == 0 and re.fullmatch(r"incident-bot \d+\.\d+\.\d+\n", version.stdout)
    doctor = " ".join(run_cli("doctor", "--help", env={}, cwd=tmp_path).stdout.split())
    for check in ("scopes", "Salesforce login", "permissions", "Redis persistence", "worker", "approver", "audit"):
        assert check in doctor
    made = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True)
    assert [line.split()[1] for line in made.stdout.splitlines()] == [
        "run",
        "test",
        "worker",
        "lint",
        "sabotage",
        "mutation",
    ]


def test_every_setting_in_the_example_can_be_uncommented_as_it_is() -> None:
    """A setting's line holds the setting alone: an explanation on the same line would become part of its value."""
    for line in (ROOT / ".env.example").read_text().splitlines():
        setting = re.fullmatch(r"#? ?([A-Z][A-Z0-9_]*)=(.*)", line)
        if setting:
            assert not re.search(r"\s", setting.group(2)), line


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
        fake_slack.wait_until(lambda: "U0ALICE01" in channel.members)  # invited at once, not before the checklist
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


def test_socket_mode_serves_the_web_view_and_stays_single_workspace(fake_slack: FakeSlack, tmp_path: Path) -> None:
    """With the web view's settings in the environment (SLACK_CLIENT_ID among them, which Bolt alone would take
    for multi-workspace OAuth), `incident-bot run` in Socket Mode still answers Slack on its bot token, and
    serves the pages on PORT; Ctrl-C stops both."""
    socket_mode = FakeSocketMode().start()
    fake_slack.socket_mode_url = lambda: socket_mode.url
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_BASE_URL": fake_slack.base_url,
        "DATA_DIR": str(tmp_path / "var"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SLACK_CLIENT_ID": OPENID_CLIENT_ID,
        "SLACK_CLIENT_SECRET": OPENID_CLIENT_SECRET,
        "WEB_BASE_URL": f"http://127.0.0.1:{port}",
        "WEB_SESSION_SECRET": "w" * 32,
    }
    sim = SlackSim("unused", fake_slack)
    process = spawn("run", env=env, cwd=tmp_path)
    try:
        socket_mode.wait_connected()
        ack = socket_mode.send(
            "slash_commands", sim.command_body("help", "U0ALICE01", "C0GENERAL"), accepts_response_payload=True
        )
        assert "Here is what `/incident` can do" in ack["payload"]["text"]
        (page,) = fake_slack.wait_until(lambda: _answering(f"http://127.0.0.1:{port}/"))
        assert page.status_code == 401 and "Sign in with Slack" in page.text
        assert page.headers["X-Frame-Options"] == "DENY"
    finally:
        assert stop(process) == 0
        socket_mode.stop()
    assert server_pids((tmp_path / "var").resolve()) == []


def _answering(url: str) -> tuple[requests.Response] | None:
    """The answer once something listens there (a tuple: a Response with a 4xx status is falsy)."""
    try:
        return (requests.get(url, timeout=5),)
    except requests.ConnectionError:
        return None
