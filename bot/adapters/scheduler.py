"""RQ: background jobs now, and scheduled jobs that survive restarts, each under a unique, repeatable id."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, cast

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

RESULT_TTL = 86400


def job_id(*parts: object) -> str:
    """A job id from its parts; RQ allows only letters, digits, `_` and `-`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(map(str, parts)))


def queue_name(key_prefix: str) -> str:
    return f"{key_prefix}-jobs"


class Scheduler:
    def __init__(self, connection: redis.Redis, key_prefix: str) -> None:
        self.queue = Queue(queue_name(key_prefix), connection=connection)

    def enqueue(
        self, func: str, *args: Any, job_id: str, retry_after: list[int] | None = None, timeout: int | None = None
    ) -> Job:
        """Runs the function at dotted path `func` on the worker, once per job id (a repeat does nothing).

        With `retry_after` (seconds), a job that fails or whose worker dies is run again after each delay.
        """
        existing = self._existing(job_id)
        retry = Retry(max=len(retry_after), interval=retry_after) if retry_after else None
        return existing or self.queue.enqueue_call(
            func, args=args, job_id=job_id, result_ttl=RESULT_TTL, retry=retry, timeout=timeout
        )

    def schedule(self, when: datetime, func: str, *args: Any, job_id: str) -> Job:
        """Runs `func(*args)` at `when`; scheduling the same id again moves it."""
        self.cancel(job_id)
        return cast(Job, self.queue.enqueue_at(when, func, *args, job_id=job_id, result_ttl=RESULT_TTL))

    def cancel(self, job_id: str) -> None:
        job = self._existing(job_id)
        if job is not None:
            job.cancel()
            job.delete()

    def _existing(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=self.queue.connection)
        except NoSuchJobError:
            return None
