"""RQ: background jobs now, and scheduled jobs that survive restarts, each under a unique, repeatable id.

Jobs are named (`bot/jobs.py` lists them) and run by the worker with the services it was built with; approved
executions have a queue of their own, served first and by a worker process of their own, so that nothing the
other jobs wait on (Slack's rate limits) can hold an approved kill switch back.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Any, cast

import redis
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

RESULT_TTL = 86400
PENDING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED}


def queue_name(key_prefix: str) -> str:
    return f"{key_prefix}-jobs"


def executions_queue_name(key_prefix: str) -> str:
    return f"{key_prefix}-executions"


class Scheduler:
    def __init__(self, connection: redis.Redis, key_prefix: str) -> None:
        self.prefix = key_prefix
        self.queue = Queue(queue_name(key_prefix), connection=connection)
        self.executions = Queue(executions_queue_name(key_prefix), connection=connection)

    def job_id(self, *parts: object) -> str:
        """A job id from its parts, unique to this deployment; RQ allows only letters, digits, `_` and `-`."""
        return re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(map(str, (self.prefix, *parts))))

    def enqueue(
        self,
        job: str,
        *args: Any,
        job_id: str,
        retry_after: list[int] | None = None,
        timeout: int | None = None,
        execution: bool = False,
    ) -> Job:
        """Runs `job` on the worker, once per id while one is pending (a repeat does nothing); an id whose job
        has ended may run again. With `retry_after` (seconds), a job that fails or whose worker dies is run
        again after each delay."""
        existing = self._existing(job_id)
        if existing is not None and existing.get_status() in PENDING:
            return existing
        if existing is not None:
            existing.delete()
        retry = Retry(max=len(retry_after), interval=retry_after) if retry_after else None
        queue = self.executions if execution else self.queue
        return queue.enqueue_call(job, args=args, job_id=job_id, result_ttl=RESULT_TTL, retry=retry, timeout=timeout)

    def schedule(self, when: datetime, job: str, *args: Any, job_id: str) -> Job:
        """Runs `job(*args)` at `when`; scheduling the same id again moves it."""
        self.cancel(job_id)
        return cast(Job, self.queue.enqueue_at(when, job, *args, job_id=job_id, result_ttl=RESULT_TTL))

    def pending(self, job_id: str) -> bool:
        """A job of that id is queued, scheduled or running (one cancelled while it is asked about is not)."""
        existing = self._existing(job_id)
        try:
            return existing is not None and existing.get_status() in PENDING
        except InvalidJobOperation:  # deleted between its fetch and the read of its status
            return False

    def cancel(self, job_id: str) -> None:
        """Cancels and deletes the job of that id, if there is one, whatever another process does to it meanwhile."""
        job = self._existing(job_id)
        if job is None:
            return
        with contextlib.suppress(InvalidJobOperation):  # cancelled already (its canceller stopped before deleting)
            job.cancel()
        with contextlib.suppress(InvalidJobOperation):  # being deleted by another process, which finishes it
            job.delete()

    def _existing(self, job_id: str) -> Job | None:
        try:
            return Job.fetch(job_id, connection=self.queue.connection)
        except NoSuchJobError:
            return None
