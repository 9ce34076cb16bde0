"""The worker process: RQ workers with their scheduler on the bot's Redis, running the bot's jobs.

Approved executions have a process of their own (their queue only), so no other job, whatever it waits on
(Slack's rate limits, a slow chart), can hold an approved change back; the other process runs every other job
and the scheduler. Both stop on SIGINT or SIGTERM (RQ's warm shutdown finishes the job at hand), including one
that comes while they start: it is kept until RQ listens for it."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from rq import Worker

from bot.adapters.scheduler import executions_queue_name, queue_name
from bot.adapters.slack_api import build_web_client
from bot.app import Services, build_services
from bot.config import Settings

SWEEP_SECONDS = 15.0
DISPATCH_WAIT_MS = 1000
logger = logging.getLogger(__name__)
STOPS_ASKED: list[int] = []  # SIGINT or SIGTERM before RQ's own handlers were in place
KEEPERS: set[int] = set()  # the processes whose RQ worker acts on STOPS_ASKED once it listens


def keep_stops() -> None:
    """From now on this process keeps a SIGINT or SIGTERM for its RQ worker (`keep_stop`); a process forked from
    it without calling this (RQ's scheduler, before its own handlers) is stopped by one."""
    KEEPERS.add(os.getpid())
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, keep_stop)


def keep_stop(signum: int, frame: FrameType | None) -> None:
    """Until RQ handles them: Python's KeyboardInterrupt, raised inside a fork's callbacks (RQ forks its scheduler,
    this its executions process), is ignored there, and the process went on to serve until the 30 s stop ran out.
    A fork that no worker listens in would keep the stop for nobody: it stops as if no handler were set."""
    if os.getpid() in KEEPERS:
        STOPS_ASKED.append(signum)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def run_worker(settings: Settings) -> None:
    keep_stops()  # the executions process is forked with it, and keeps stops too once it works
    executions = multiprocessing.get_context("fork").Process(
        target=work, args=(settings, [executions_queue_name(settings.key_prefix)], False), name="executions"
    )
    executions.start()
    try:
        work(settings, [executions_queue_name(settings.key_prefix), queue_name(settings.key_prefix)], True)
    finally:
        executions.join()


def work(settings: Settings, queues: list[str], with_scheduler: bool) -> None:
    """An RQ worker on `queues`; the one with the scheduler also sweeps (`Services.sweep`) every SWEEP_SECONDS."""
    keep_stops()
    services = build_services(settings, build_web_client(settings.bot_token, settings.slack_api_base_url))
    stop = threading.Event()
    name = f"{settings.key_prefix}-{uuid.uuid4().hex[:12]}"  # a shared Redis tells whose worker it is
    if with_scheduler:
        threading.Thread(target=sweeping, args=(services.sweep, stop), name="sweep", daemon=True).start()
        threading.Thread(target=dispatching, args=(services, name, stop), name="dispatch", daemon=True).start()
    try:
        worker = PromptWorker(queues, name=name, connection=services.redis.jobs, job_class=services.jobs)
        worker.work(with_scheduler=with_scheduler)
    finally:
        stop.set()
        services.close()


class PromptStop:
    """An RQ worker that stops promptly. A stop asked before it listened is not lost. On shutdown RQ asks redis-py's
    pubsub thread to stop, and redis-py 8 waits for it without a bound, up to the thread's 60-second poll once it
    is unsubscribed (a Ctrl-C took a minute, and a burst worker could hang). The thread is a daemon: one second is
    enough to let it go."""

    pubsub: Any
    pubsub_thread: Any
    pubsub_channel_name: str
    name: str
    log: Any

    def _install_signal_handlers(self) -> None:
        """RQ's handlers from now on; a stop asked while this worker started (`keep_stop`) is acted on now."""
        super()._install_signal_handlers()  # type: ignore[misc]
        if STOPS_ASKED:
            self.log.info("Worker %s: asked to stop while starting", self.name)
            self._stop_requested = True

    def unsubscribe(self) -> None:
        if self.pubsub_thread:
            self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
            self.pubsub.unsubscribe()
            self.pubsub_thread.stop(timeout=1)


class PromptWorker(PromptStop, Worker):
    pass


def sweeping(sweep: Callable[[], None], stop: threading.Event) -> None:
    while not stop.wait(SWEEP_SECONDS):
        sweep()


def dispatching(services: Services, consumer: str, stop: threading.Event) -> None:
    """Hands the outbox's events to the subscribers' jobs as they come (a second's wait for each read)."""
    while not stop.is_set():
        try:
            services.events.dispatch(consumer, block_ms=DISPATCH_WAIT_MS)
        except Exception:
            logger.exception("dispatching events failed; trying again shortly")
            stop.wait(SWEEP_SECONDS)
