"""Resident memory of the web process: one gunicorn worker serving the bot, idle after start, after its first
incident, after 100 and after 1,000 incidents declared through signed slash commands (each with its channel, pinned
header and checklist posted to the fake Slack on loopback).

Run: `.venv/bin/python -m bench.memory [--incidents 1000] [--clients 4]`
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from bench.harness import bot_env, gunicorn, redis_url
from tests.conftest import free_port
from tests.fakes.slack import FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SlackSim


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, f"expected one gunicorn worker, found {children}"
    return int(children[0])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def ready(slack: FakeSlack, number: int) -> bool:
    channel = slack.channel_named(f"inc-{number}-")
    return channel is not None and bool(channel.pins) and len(channel.messages) >= 2


def declare_all(app_url: str, slack: FakeSlack, first: int, count: int, clients: int) -> None:
    """`clients` responders declaring one after another, each waiting for the incident to be ready."""
    numbers = iter(range(first, first + count))
    lock = threading.Lock()

    def client(index: int) -> None:
        sim = SlackSim(app_url, slack)
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            response = sim.command(f"declare sev3 Load {number}", user=f"U0MEM{index:05d}")
            assert response.status_code == 200, response.status_code

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    last = first + count - 1
    slack.wait_until(lambda: all(ready(slack, n) for n in range(max(first, last - 20), last + 1)), timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    checkpoints = sorted({1, min(100, args.incidents), args.incidents})
    slack, pages = FakeSlack().start(), FakeStatusPages().start()
    with redis_url() as url:
        port = free_port()
        env = bot_env(slack, pages, url, port, WEB_CONCURRENCY="1")
        with gunicorn("bot.web:create_wsgi_app()", env) as master:
            app_url = f"http://127.0.0.1:{port}/slack/events"
            pid = worker_pid(master.pid)
            time.sleep(1)
            figures = {0: rss_mib(pid)}
            declared = 0
            for checkpoint in checkpoints:
                declare_all(app_url, slack, declared + 1, checkpoint - declared, args.clients)
                declared = checkpoint
                time.sleep(1)
                figures[checkpoint] = rss_mib(pid)
            assert worker_pid(master.pid) == pid, "the worker was restarted during the run"
    slack.stop()
    pages.stop()
    print("resident memory of the web process (one gunicorn worker)")
    for count, mib in figures.items():
        label = "idle after start" if count == 0 else f"after {count:,} incident{'s' if count > 1 else ''}"
        print(f"  {label:<24} {mib:6.1f} MiB")
    if len(checkpoints) == 3:
        low, high = checkpoints[1], checkpoints[2]
        growth = (figures[high] - figures[low]) * 1024 / (high - low)
        print(f"  growth per incident from {low:,} to {high:,}: {growth:.1f} KiB")


if __name__ == "__main__":
    main()
