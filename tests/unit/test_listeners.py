"""The listener pool knows when it is quiet: nothing queued, nothing running, whatever the work did."""

from __future__ import annotations

import threading

from bot.listeners import ListenerPool


def test_quiet_only_once_queued_and_running_work_is_done() -> None:
    pool = ListenerPool(max_workers=1)
    release = threading.Event()
    pool.submit(release.wait)
    pool.submit(lambda: None)  # queued behind the first
    assert not pool.wait_quiet(timeout=0.05)
    release.set()
    assert pool.wait_quiet(timeout=5)
    pool.shutdown()


def test_work_that_raises_still_counts_as_done() -> None:
    pool = ListenerPool(max_workers=2)

    def fails() -> None:
        raise RuntimeError("a listener failed")

    future = pool.submit(fails)
    assert pool.wait_quiet(timeout=5) and isinstance(future.exception(), RuntimeError)
    pool.shutdown()
    assert pool.wait_quiet(timeout=0)
