"""The pool Bolt runs listeners on once they have acked: a thread pool that can say when no work is queued or
running in it (a test waits for that before it looks; a stop waits for it through `shutdown`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class ListenerPool(ThreadPoolExecutor):
    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="listener")
        self._pending = 0
        self._changed = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._changed:
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def wait_quiet(self, timeout: float) -> bool:
        """Until nothing is queued or running; False when `timeout` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._pending == 0, timeout)

    def _finished(self, _: Future[Any] | None) -> None:
        with self._changed:
            self._pending -= 1
            self._changed.notify_all()
