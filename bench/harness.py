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
from typing import Any

import requests

from bot.config import Settings
from tests.conftest import free_port, redis_answering_at, settings_for
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SIGNING_SECRET

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def bench_settings(slack: FakeSlack, pages: FakeStatusPages, **overrides: Any) -> Iterator[Settings]:
    """Settings for a benchmark's in-process bot: a Redis (`redis_url()`), a data folder and a key prefix of its
    own, and `overrides`."""
    with tempfile.TemporaryDirectory() as directory, redis_url() as url:
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        yield settings_for(slack, pages, redis_url=url, data_dir=Path(directory), key_prefix=prefix, **overrides)


@contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL when it answers, else a redis-server started here (as the tests do)."""
    with redis_answering_at(os.environ.get("REDIS_URL")) as url:
        yield url


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
    remote = RemoteSlack(f"http://127.0.0.1:{port}")
    with serving([sys.executable, "-m", "bench.fake_slack", str(port), str(latency)], remote.url):
        yield remote


@contextmanager
def serving(
    command: list[str], url: str, env: dict[str, str] | None = None, stderr: Any = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs `command` in its own process group until the block ends, once `url` answers HTTP."""
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield process
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
        "HOST": "127.0.0.1",
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
    with (
        open(os.environ.get("BENCH_LOG", os.devnull), "ab") as log,
        serving(command, f"http://127.0.0.1:{env['PORT']}/healthz", env, log) as process,
    ):
        yield process


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
        "max": ordered[-1] * 1000,
    }


def row(label: str, figures: dict[str, float]) -> str:
    return f"{label:<28}" + "  ".join(f"{name} {value:7.1f} ms" for name, value in figures.items())
