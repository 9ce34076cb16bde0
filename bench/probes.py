"""Declare to ranked picker: from the slash command until the picker shows what the probes found, against a test
org seeded with a rate-limit storm and 100 ms added to every Salesforce query; and how many queries (API calls,
each counted against the org's daily limit) one declaration makes, the probes' and the rest.

The same run measures the probes without the added latency, and compares the ranked picker with what the probes
would take one after the other (their queries times the latency).

Run: `.venv/bin/python -m bench.probes [--runs 5]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import bot_env, gunicorn, redis_url
from bot.adapters.playbook_files import BUNDLED_PLAYBOOKS, load_runbook
from bot.config import STEP_SETTINGS
from tests.conftest import free_port, jwt_settings
from tests.fakes.salesforce import FakeSalesforce, seed_rate_limit_storm
from tests.fakes.slack import FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.slack_sim import SlackSim

QUERY_LATENCY = 0.100


def ranked(slack: FakeSlack, prefix: str) -> bool:
    channel = slack.channel_named(prefix)
    return channel is not None and any("What the org shows" in str(m.get("blocks")) for m in channel.messages.values())


def declare(sim: SlackSim, slack: FakeSlack, org: FakeSalesforce, number: int) -> tuple[float, int]:
    """Seconds from the command to the ranked picker, and the org's queries in that time and the next second
    (the declaration's other reads finish beside the probes)."""
    before = len(org.calls_to("/query"))
    started = time.perf_counter()
    sim.command(f"declare sev3 Enrichment pipelines failing {number}")
    slack.wait_until(lambda: ranked(slack, f"inc-{number}-"), timeout=60)
    took = time.perf_counter() - started
    time.sleep(1.0)
    return took, len(org.calls_to("/query")) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runbook = load_runbook(BUNDLED_PLAYBOOKS, STEP_SETTINGS)
    probes = runbook.probes()
    probe_queries = sum(2 if probe.rule.type == "rise" else 1 for _, probe in probes)
    slack, pages = FakeSlack().start(), FakeStatusPages().start()
    with tempfile.TemporaryDirectory() as directory, redis_url() as url:
        now = datetime.now(UTC)  # the bot runs on the wall clock: the storm is seeded around it
        org = FakeSalesforce(Path(directory), now=now).start()
        org.seed(seed_rate_limit_storm(now))
        port = free_port()
        extra = {k.upper(): str(v) for k, v in jwt_settings(org).items()}
        env = bot_env(slack, pages, url, port, REQUESTS_CA_BUNDLE=str(org.cert_file), **extra)
        with gunicorn("bot.web:create_wsgi_app()", env):
            sim = SlackSim(f"http://127.0.0.1:{port}/slack/events", slack)
            declare(sim, slack, org, 1)  # logs in to the fake org once, as a running bot would have
            bare = [declare(sim, slack, org, n)[0] for n in range(2, args.runs + 2)]
            limited = sorted({c.method for c in slack.rate_limited})
            org.query_latency = QUERY_LATENCY
            slow = [declare(sim, slack, org, n) for n in range(args.runs + 2, 2 * args.runs + 2)]
            first = slack.channel_named(f"inc-{args.runs + 2}-")
            assert first is not None
            top = next(
                str(m["blocks"]) for m in first.messages.values() if "What the org shows" in str(m.get("blocks"))
            )
        org.stop()
    slack.stop()
    pages.stop()
    times = [t for t, _ in slow]
    queries = {q for _, q in slow}
    serial = probe_queries * QUERY_LATENCY
    chain = QUERY_LATENCY  # every query of every probe (a rise's two windows too) starts at once
    median = statistics.median(times)
    print(
        f"declare to ranked picker, storm seeded, {args.runs} runs each, {len(probes)} probes ({probe_queries} queries)"
    )
    each = ", ".join(f"{t * 1000:.0f}" for t in bare)
    print(f"without added latency: median {statistics.median(bare) * 1000:.0f} ms ({each})")
    print(
        f"with {QUERY_LATENCY * 1000:.0f} ms per query: median {median * 1000:.0f} ms "
        f"({', '.join(f'{t * 1000:.0f}' for t in times)}); budget 30000 ms"
    )
    print(
        f"against the queries one after the other ({serial * 1000:.0f} ms): {median / serial:.2f}x; against the "
        f"critical path, one query ({chain * 1000:.0f} ms): {median / chain:.2f}x"
    )
    print(
        f"queries per declaration: {', '.join(map(str, sorted(queries)))} "
        f"(probes {probe_queries}, the rest are the snapshot and confirm-scope reads)"
    )
    print(f"answered 429 by Slack: {len(slack.rate_limited)} ({', '.join(limited) or 'none'})")
    print("Playbook 2 ranked first:", "*2. Rate-limit storm*" in top.split("What the org shows")[1].split("\\n")[1])


if __name__ == "__main__":
    main()
