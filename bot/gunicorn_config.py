"""gunicorn settings for the web process (`--config python:bot.gunicorn_config`).

Read by the master before it starts any worker: the settings (from the environment and .env) and Slack's answer
to the token are checked here, so a problem is one sentence and exit 2, never a worker that fails to boot. The
master also holds the embedded Redis (when REDIS_URL is unset) for its workers, and lets it go when it stops.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from bot.adapters.embedded_redis import EmbeddedRedis
from bot.config import SettingsError, process_settings
from bot.logs import gunicorn_logging
from bot.preflight import check_slack
from bot.web import SERVICES

_settings = process_settings()
try:
    check_slack(_settings)
except SettingsError as error:
    print(error, file=sys.stderr)
    raise SystemExit(2) from None

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.web_concurrency
worker_class = "gthread"
threads = 16
accesslog = "-"
control_socket_disable = True  # no ~/.gunicorn/gunicorn.ctl shared by every gunicorn of the machine
logconfig_dict = gunicorn_logging(_settings.log_level, _settings.secret_values)
_embedded = None if _settings.redis_url else EmbeddedRedis(_settings.data_dir)


def on_starting(server: Any) -> None:
    if _embedded is not None:
        _embedded.acquire()


def on_exit(server: Any) -> None:
    if _embedded is not None:
        _embedded.release()


STOPS = {signal.SIGINT, signal.SIGTERM, signal.SIGQUIT}


def pre_fork(server: Any, worker: Any) -> None:
    """A stop that reached a worker before its own handlers were in ran the master's, copied into the worker, and
    was lost there: the master then waited its 30 s graceful timeout. The master holds stops from just before
    the fork (and takes its own back after it); the worker takes them once its handlers are in."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)


os.register_at_fork(after_in_parent=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS))


def post_worker_init(worker: Any) -> None:
    """The stops held since the fork reach the worker's own handlers now. Ctrl-C in a terminal signals the whole
    process group: the master alone answers it (it sends the workers SIGQUIT). A worker that also took the SIGINT
    ran its quit handler twice, the second inside the first's shutdown of its thread pool, and hung on that pool's
    lock until the master killed it 30 s later."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)


def worker_exit(server: Any, worker: Any) -> None:
    """A worker stopping: the work its listeners started after an ack finishes first."""
    services = getattr(getattr(worker, "wsgi", None), "extensions", {}).get(SERVICES)
    if services is not None:
        services.close()
