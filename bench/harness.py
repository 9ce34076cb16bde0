"""What the benchmarks share: the fakes on loopback, a Redis, the bot served by gunicorn, and statistics.

Benchmarks print figures measured in the same run; they assert nothing (tests never assert timings).
"""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import requests

from tests.conftest import free_port, start_redis_server
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL, or the machine's Redis at 127.0.0.1:6379, or one started here."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        yield url
        return
    except redis.RedisError:
        pass
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = start_redis_server(port, Path(directory))
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait()


class RemoteSlack:
    """What SlackSim needs of the fake when it runs in another process: addresses, not state."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.base_url = f"{url}/api/"
        self.channels: dict[str, object] = {}
        self._count = itertools.count(1)

    def new_response_url(self) -> str:
        return f"{self.url}/response/{next(self._count)}"

    def new_trigger_id(self) -> str:
        return f"{next(self._count)}.{int(time.time())}.trigger"


@contextmanager
def slack_process(latency: float = 0.0) -> Iterator[RemoteSlack]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_slack", str(port), str(latency)], cwd=ROOT, start_new_session=True
    )
    remote = RemoteSlack(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(remote.url, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield remote
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def bot_env(
    slack: FakeSlack | RemoteSlack, pages: FakeStatusPages, url: str, port: int, **extra: str
) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": slack.base_url,
        "REDIS_URL": url,
        "KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
        **{name.upper(): value for name, value in pages.settings().items()},
        **extra,
    }


@contextmanager
def gunicorn(app: str, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`app` served exactly as the Procfile's web process serves the bot."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:bot.gunicorn_config",
        "--access-logfile",
        "/dev/null",
        app,
    ]
    with open(os.environ.get("BENCH_LOG", os.devnull), "ab") as log:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log
        )
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.post(f"{base}/slack/events", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
        "max": ordered[-1] * 1000,
    }


def row(label: str, figures: dict[str, float]) -> str:
    return f"{label:<28}" + "  ".join(f"{name} {value:7.1f} ms" for name, value in figures.items())
