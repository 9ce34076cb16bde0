"""`incident-bot run`: the whole bot from one command, the web process (gunicorn, or Socket Mode) and the worker
(escalations, expiries, charts, approved kill switches), stopped together by one Ctrl-C.

The children stay in the terminal's process group, so Ctrl-C reaches each of them at once and each stops its own
way (gunicorn's master stops its workers, RQ finishes the job at hand). A stop asked of this process alone
(`kill`, a platform's SIGTERM) is passed on, once; a child that has not stopped within `STOP_SECONDS` is
terminated, then killed. When
one child stops by itself, the other is stopped too and the command ends with the first one's exit status.
The Procfile runs the two as processes of their own in production.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from types import FrameType

STOP_SECONDS = 30.0
LAST_SECONDS = 5.0  # after SIGTERM, before SIGKILL


def run_together(commands: dict[str, list[str]]) -> int:
    """Runs each named command until one ends or this process is asked to stop; returns the exit status."""
    asked = threading.Event()
    signals: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)
        asked.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    children = {name: subprocess.Popen(command) for name, command in commands.items()}  # noqa: S603 (our own)
    ended: tuple[str, int] | None = None
    while ended is None and not asked.wait(0.2):
        ended = next(((name, code) for name, child in children.items() if (code := child.poll()) is not None), None)
    if ended is not None and ended[1] != 0:
        print(f"incident-bot: the {ended[0]} stopped (exit status {ended[1]}); stopping the rest.", file=sys.stderr)
    _stop(children, signals[0] if signals else signal.SIGTERM, on_their_own=signals == [signal.SIGINT])
    return 0 if ended is None else ended[1]


def _stop(children: dict[str, subprocess.Popen[bytes]], signum: int, *, on_their_own: bool) -> None:
    """After a Ctrl-C every child got it and is stopping its own way: a second signal would make gunicorn run its
    quit handler twice (it hangs) and RQ drop the job at hand, so they are only waited for. Otherwise the stop is
    passed on, once. A child still running after STOP_SECONDS is asked with SIGTERM, then killed."""
    running = [child for child in children.values() if child.poll() is None]
    if not on_their_own:
        for child in running:
            child.send_signal(signum)
    _wait(running, STOP_SECONDS)
    for child in running:
        if child.poll() is None:
            child.terminate()
    _wait(running, LAST_SECONDS)
    for child in running:
        if child.poll() is None:
            child.kill()
            child.wait()


def _wait(children: list[subprocess.Popen[bytes]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return
