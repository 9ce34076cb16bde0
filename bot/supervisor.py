"""`incident-bot run`: the whole bot from one command, the web process (gunicorn, or Socket Mode) and the worker
(escalations, expiries, charts, approved kill switches), stopped together by one Ctrl-C.

Each child runs in a process group of its own, so a Ctrl-C (or a closed terminal's SIGHUP) reaches this process
alone, and it tells each group once with SIGTERM, once every child has started. A child stops the same way on
SIGTERM as on Ctrl-C (gunicorn stops its workers, RQ finishes the job at hand), and one that is still starting
ends at once, where Python's KeyboardInterrupt can be swallowed (inside pydantic's schema building, in a fork's
callbacks) and leave it serving. (Children in the terminal's group took its Ctrl-C themselves: one started just
after it, or one that swallowed it, ran on until the 30 s stop.) A group still running after `STOP_SECONDS` is
told again (RQ's cold shutdown), then killed. When one child stops by itself, the others are stopped too and the
command ends with the first one's exit status. The Procfile runs the two as processes of their own in production.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

STOP_SECONDS = 30.0
LAST_SECONDS = 5.0  # after the second SIGTERM, and after SIGKILL


def run_together(commands: dict[str, list[str]]) -> int:
    """Runs each named command until one ends or this process is asked to stop; returns the exit status."""
    asked: list[int] = []  # a list, not an Event: a handler taking a lock the interrupted code holds would hang

    def stop(signum: int, frame: FrameType | None) -> None:
        asked.append(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl-C, `kill`, a terminal closed
        signal.signal(signum, stop)
    children = {
        name: subprocess.Popen(command, process_group=0)  # noqa: S603 (our own)
        for name, command in commands.items()
    }
    ended: tuple[str, int] | None = None
    while ended is None and not asked:
        time.sleep(0.2)
        ended = next(((name, code) for name, child in children.items() if (code := child.poll()) is not None), None)
    if ended is not None and ended[1] != 0:
        print(f"incident-bot: the {ended[0]} stopped (exit status {ended[1]}); stopping the rest.", file=sys.stderr)
    _stop(list(children.values()))
    return 0 if ended is None else ended[1]


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each child's group, waited for; again after STOP_SECONDS (RQ then stops the job at hand), then
    SIGKILL."""
    for sent, seconds in (
        (signal.SIGTERM, STOP_SECONDS),
        (signal.SIGTERM, LAST_SECONDS),
        (signal.SIGKILL, LAST_SECONDS),
    ):
        running = [child for child in children if child.poll() is None]
        for child in running:
            _signal_group(child, sent)
        _wait(running, seconds)


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has stopped meanwhile
        os.killpg(child.pid, signum)


def _wait(children: list[subprocess.Popen[bytes]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return
