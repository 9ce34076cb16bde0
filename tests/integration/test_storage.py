"""The store on REDIS_URL (plain and TLS with a self-signed certificate) and on the embedded default."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.adapters.redis_connection import open_redis
from bot.config import Settings
from tests.certificates import self_signed
from tests.conftest import free_port, run_cli, wait_for_redis
from tests.driver import declared_channel, server_pids


def declare_and_read_back(bot: Any) -> None:
    bot.slack.command("declare sev2 Stored somewhere")
    channel = declared_channel(bot)
    incident = bot.services.incidents.in_channel(channel.id)
    assert incident is not None and incident.title == "Stored somewhere"
    assert [i.number for i in bot.services.incidents.store.open_incidents()] == [1]


def test_store_on_redis_url(bot: Any, redis_url: str) -> None:
    assert bot.services.redis.description == f"Redis at {redis_url}"  # REDIS_URL, whatever its scheme
    declare_and_read_back(bot)


def test_store_on_embedded_redis_shared_by_a_second_process_handle(bot_factory: Any, tmp_path: Path) -> None:
    bot = bot_factory(redis_url=None)
    assert bot.services.redis.description == f"embedded Redis with its data in {tmp_path / 'var'}"
    declare_and_read_back(bot)
    # another user of the same DATA_DIR joins the same server
    worker_side = open_redis(bot.services.settings)
    prefix = bot.services.settings.key_prefix
    assert worker_side.data.exists(f"{prefix}:incident:1") == 1
    worker_side.close()
    assert bot.services.redis.data.ping()  # still held by the bot
    assert (tmp_path / "var" / "appendonly.aof").exists() or (tmp_path / "var" / "appendonlydir").exists()


def test_the_embedded_redis_stops_with_its_last_user(
    tmp_path: Path, process_sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")  # type: ignore[call-arg]
    monkeypatch.setattr(tempfile, "tempdir", str(process_sandbox / "tmp"))  # this process's, like the command's
    first = open_redis(settings)
    first.data.set("test-kept", "1")
    pids = server_pids((tmp_path / "var").resolve())
    assert len(pids) == 1
    # an operator command in another process joins the running server and leaves it running
    env = {"DATA_DIR": str(tmp_path / "var")}
    verify = run_cli("audit", "verify", "1", env=env)
    assert (verify.returncode, verify.stderr) == (2, "There is no incident 1.\n")  # it read the running server
    assert server_pids((tmp_path / "var").resolve()) == pids and first.data.get("test-kept") == "1"
    first.close()
    assert server_pids((tmp_path / "var").resolve()) == []
    # alone, the command starts the server, reads, and stops it again; its data stays on disk
    verify = run_cli("audit", "verify", "1", env=env)
    assert (verify.returncode, verify.stderr) == (2, "There is no incident 1.\n")
    assert server_pids((tmp_path / "var").resolve()) == []
    again = open_redis(settings)
    assert again.data.get("test-kept") == "1"
    again.close()
    assert list((process_sandbox / "tmp").iterdir()) == []  # no temporary folder left behind


def tls_redis_binary() -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    probe = subprocess.run(
        [binary, "--tls-port", "0", "--port", "0", "--test-memory", "0"], capture_output=True, text=True, timeout=10
    )
    return None if "tls-port" in probe.stdout + probe.stderr else binary


@pytest.fixture
def tls_redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis that speaks only TLS, with a self-signed certificate, as Heroku Redis does."""
    binary = tls_redis_binary()
    if binary is None:
        pytest.skip("this machine's redis-server is built without TLS")
    cert, key = self_signed(tmp_path, "redis")
    port = free_port()
    server = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"rediss://127.0.0.1:{port}/0"
    try:
        wait_for_redis(redis.Redis.from_url(url, ssl_cert_reqs="none"))
        yield url
    finally:
        server.terminate()
        server.wait()


def test_store_on_rediss_with_a_self_signed_certificate(tls_redis_url: str, bot_factory: Any) -> None:
    bot = bot_factory(redis_url=tls_redis_url)
    assert bot.services.redis.description == f"Redis at {tls_redis_url}"
    declare_and_read_back(bot)
