"""Declare to ready: from the slash command to the channel, its header, the checklist and both snapshot tables
posted, with 100 ms added to every Slack call and 300 ms to every Salesforce query; beside the critical path,
the longest chain of calls that must happen one after the other.

Run: `.venv/bin/python -m bench.declare_ready [--runs 5]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import bot_env, gunicorn, redis_url
from tests.conftest import free_port, jwt_settings
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.slack import FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SlackSim

SLACK_LATENCY = 0.100
QUERY_LATENCY = 0.300
# The chain that must happen in order: the snapshot query (it needs nothing), then its table in the channel; the
# channel itself (create, then a post) is shorter and runs beside it.
CRITICAL_PATH = max(SLACK_LATENCY + SLACK_LATENCY, QUERY_LATENCY + SLACK_LATENCY)


def ready(slack: FakeSlack, prefix: str) -> bool:
    channel = slack.channel_named(prefix)
    if channel is None:
        return False
    texts = [m.get("text", "") for m in channel.messages.values()]
    return (
        bool(channel.pins)
        and any(t.startswith("First five minutes") for t in texts)
        and sum("Snapshot state" in t for t in texts) == 2
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    slack, pages = FakeSlack().start(), FakeStatusPages().start()
    with tempfile.TemporaryDirectory() as directory, redis_url() as url:
        org = FakeSalesforce(Path(directory)).start()
        port = free_port()
        extra = {k.upper(): str(v) for k, v in jwt_settings(org).items()}
        env = bot_env(slack, pages, url, port, REQUESTS_CA_BUNDLE=str(org.cert_file), **extra)
        with gunicorn("bot.web:create_wsgi_app()", env):
            sim = SlackSim(f"http://127.0.0.1:{port}/slack/events", slack)
            sim.command("declare sev2 Warm-up")  # logs in to the fake org once, as a running bot would have
            slack.wait_until(lambda: ready(slack, "inc-1-"), timeout=60)
            slack.latency, org.query_latency = SLACK_LATENCY, QUERY_LATENCY
            times = []
            for number in range(2, args.runs + 2):
                started = time.perf_counter()
                sim.command(f"declare sev2 Measured {number}")
                slack.wait_until(lambda n=number: ready(slack, f"inc-{n}-"), timeout=60)
                times.append(time.perf_counter() - started)
        org.stop()
    slack.stop()
    pages.stop()
    median = statistics.median(times)
    print(
        f"declare to ready (channel, pinned header, checklist, both snapshot tables), {args.runs} runs, "
        f"{SLACK_LATENCY * 1000:.0f} ms per Slack call, {QUERY_LATENCY * 1000:.0f} ms per Salesforce query"
    )
    print(f"each run: {', '.join(f'{t * 1000:.0f} ms' for t in times)}")
    print(
        f"median {median * 1000:.0f} ms; critical path {CRITICAL_PATH * 1000:.0f} ms; "
        f"ratio {median / CRITICAL_PATH:.2f}x"
    )


if __name__ == "__main__":
    main()
