"""Ack latency under load: N concurrent clients send signed slash commands and button clicks to the bot's HTTP
endpoint (gunicorn, as in production) with the fake Slack on loopback, beside a bare Bolt app that only acks,
served the same way and measured in the same run (the framework's floor).

Run: `.venv/bin/python -m bench.ack_latency [--clients 50] [--requests 40] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import threading
import time
from contextlib import ExitStack

import redis

from bench.harness import RemoteSlack, bot_env, gunicorn, percentiles, redis_url, row, slack_process
from bot.adapters.redis_store.events import EventOutbox
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.walkthrough import WalkthroughStore
from tests.conftest import free_port
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SlackSim

KINDS = ("help", "status", "click")


def load(
    app_url: str, slack: RemoteSlack, channel: str, ts: str, clients: int, per_client: int
) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(index: int) -> None:
        sim = SlackSim(app_url, slack)  # type: ignore[arg-type]
        barrier.wait()
        for n in range(per_client):
            started = time.perf_counter()
            kind = (index + n) % 3
            if kind == 0:
                response = sim.command("help", user=f"U0LOAD{index:04d}", channel_id=channel)
            elif kind == 1:
                response = sim.command("status", user=f"U0LOAD{index:04d}", channel_id=channel)
            else:
                response = sim.click(
                    "step.done",
                    "1:first-five:vendor-status",
                    user=f"U0LOAD{index:04d}",
                    channel_id=channel,
                    message_ts=ts,
                )
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.status_code
            with lock:
                latencies[KINDS[kind]].append(elapsed)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="per client and round")
    parser.add_argument("--rounds", type=int, default=3, help="the two apps take turns, so both see the same machine")
    args = parser.parse_args()
    apps = {"bare Bolt (floor)": "bench.bare_app:create()", "incident bot": "bot.web:create_wsgi_app()"}
    samples: dict[str, dict[str, list[float]]] = {label: {kind: [] for kind in KINDS} for label in apps}
    round_p99: dict[str, list[float]] = {label: [] for label in apps}
    pages = FakeStatusPages().start()
    with redis_url() as url, slack_process() as slack, ExitStack() as servers:
        targets = {}
        for label, app in apps.items():
            port = free_port()
            env = bot_env(slack, pages, url, port)
            servers.enter_context(gunicorn(app, env))
            app_url = f"http://127.0.0.1:{port}/slack/events"
            sim = SlackSim(app_url, slack)  # type: ignore[arg-type]
            channel, ts = "C0GENERAL", "1.000001"
            if app.startswith("bot"):
                channel, ts = declare_one(sim, url, env["KEY_PREFIX"])
            for _ in range(20):  # warm up both the same way
                sim.command("help", channel_id=channel)
            targets[label] = (app_url, channel, ts)
        for _ in range(args.rounds):
            for label, (app_url, channel, ts) in targets.items():
                by_kind = load(app_url, slack, channel, ts, args.clients, args.requests)
                for kind, latencies in by_kind.items():
                    samples[label][kind].extend(latencies)
                round_p99[label].append(percentiles([s for kind in KINDS for s in by_kind[kind]])["p99"])
    pages.stop()
    print(
        f"ack latency, {args.clients} concurrent clients × {args.requests} requests × {args.rounds} rounds "
        "(slash commands help and status, and button clicks), gunicorn gthread, 2 workers × 16 threads"
    )
    results = {label: percentiles([s for kind in KINDS for s in by_kind[kind]]) for label, by_kind in samples.items()}
    for label, figures in results.items():
        print(row(label, figures))
    for label, by_kind in samples.items():
        for kind, latencies in by_kind.items():
            print("  " + row(f"{label}, {kind}", percentiles(latencies)))
    floor, bot = results["bare Bolt (floor)"], results["incident bot"]
    print(f"{'ratio bot / floor':<28}" + "  ".join(f"{k} {bot[k] / floor[k]:7.2f}x   " for k in floor))
    ratios = [b / f for b, f in zip(round_p99["incident bot"], round_p99["bare Bolt (floor)"], strict=True)]
    print("p99 ratio in each round: " + ", ".join(f"{r:.2f}x" for r in ratios))


def declare_one(sim: SlackSim, url: str, prefix: str) -> tuple[str, str]:
    """Declares an incident and returns its channel and its checklist message, read from the bot's Redis."""
    sim.command("declare sev2 Benchmark incident")
    client = redis.Redis.from_url(url, decode_responses=True)
    steps = WalkthroughStore(client, prefix)
    store = IncidentStore(client, prefix, EventOutbox(client, prefix))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        incident = store.get(1)
        checklist = steps.snapshot(1).messages.get("first-five", "posting")
        if incident and incident.channel_id and checklist != "posting":
            return incident.channel_id, checklist
        time.sleep(0.05)
    raise RuntimeError("the benchmark incident was not declared")


if __name__ == "__main__":
    main()
