"""The background jobs, by name, and the RQ job class that runs them with the worker's own services (no global
registry: `job_class` is built in the composition root with the handlers it may call).

Each job that changes what people see in Slack is separate from the work that decided it, so a Slack failure or
a rate limit is retried on its own and never repeats the work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rq.job import Job

Handler = Callable[..., None]


def job_class(handlers: Mapping[str, Handler]) -> type[Job]:
    """An RQ Job that runs a job by its name with `handlers`, instead of importing a function by its path."""

    class ServiceJob(Job):
        def _execute(self) -> Any:
            handler = handlers.get(self.func_name or "")
            if handler is None:
                raise LookupError(f"no job named {self.func_name!r}; is the worker the same version as the bot?")
            return handler(*self.args, **self.kwargs)

    return ServiceJob
