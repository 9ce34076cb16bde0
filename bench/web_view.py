"""The web view at size: the incident list with 1,000 incidents (a tenth of them private, their channels' members
asked of the fake Slack), and one incident's page with a 10,000-entry timeline; each beside the same page at a
tenth of the size, measured in the same run, so the ratio says how it grows. Served by the bot's WSGI app on a
threaded server on loopback, signed in with Slack through the fake's OpenID endpoints.

Prints p50/p99 per page and the ratios. Run: `.venv/bin/python -m bench.web_view [--repeat 20]`
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime, timedelta

import requests

from bench.harness import bench_settings, percentiles, row
from bot.core.incident import Incident, IncidentStatus
from bot.core.severity import Severity
from bot.core.timeline import EntryKind, TimelineEntry
from tests.conftest import BotServer, ManualClock, web_settings
from tests.fakes.slack import BOT_USER, TEAM_ID, FakeSlack
from tests.fakes.status_pages import FakeStatusPages
from tests.web_client import signed_in

VIEWER = "U0ALICE01"
PEOPLE = [f"U0P{n:07d}" for n in range(40)]


def seed(server: BotServer, incidents: int, first: int, timeline: dict[int, int], slack: FakeSlack) -> None:
    """`incidents` incidents numbered from `first` over the last 26 weeks; every tenth private, in a channel the
    viewer is in every other time; `timeline` entries for the incidents it names."""
    store = server.services.incidents.store
    now = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    for number in range(first, first + incidents):
        store.claim_number(f"bench-{number}")
        declared = now - timedelta(hours=4 * (first + incidents - number))
        private = number % 10 == 0
        members = {BOT_USER, VIEWER if number % 20 == 0 else PEOPLE[0]}  # the bot made the channel: it is in it
        channel = slack.add_channel(f"inc-{number}", members, private)
        open_ = number % 50 == 0
        store.save(
            Incident(
                number=number,
                title=f"Pipeline failures {number}",
                severity=Severity(1 + number % 4),
                status=IncidentStatus.INVESTIGATING if open_ else IncidentStatus.RESOLVED,
                team_id=TEAM_ID,
                declared_by=PEOPLE[number % 40],
                declared_at=declared,
                commander=PEOPLE[number % 40],
                private=private,
                channel_id=channel.id,
                channel_name=channel.name,
                acknowledged_at=declared + timedelta(minutes=3 + number % 30),
                mitigated_at=None if open_ else declared + timedelta(minutes=40 + number % 90),
                resolved_at=None if open_ else declared + timedelta(hours=2, minutes=number % 60),
            )
        )
    timeline_store = server.services.timeline.store
    for number, entries in timeline.items():
        start = now - timedelta(hours=8)
        for index in range(entries):
            entry = TimelineEntry(
                at=start + timedelta(seconds=2 * index),
                kind=EntryKind.NOTE if index % 3 else EntryKind.MESSAGE,
                text=f"Finding {index}: <@{PEOPLE[index % 40]}> saw 5xx rise on stage {index % 7}",
                actor=PEOPLE[index % 40],
            )
            timeline_store.append(number, entry)


def timed(session: requests.Session, url: str, repeat: int) -> tuple[dict[str, float], int]:
    session.get(url, timeout=60).raise_for_status()  # warm: names and members cached as in steady use
    samples = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        answer = session.get(url, timeout=60)
        samples.append(time.perf_counter() - started)
        answer.raise_for_status()
        size = len(answer.content)
    return percentiles(samples), size


def measure(incidents: int, timeline: int, repeat: int) -> dict[str, tuple[dict[str, float], int]]:
    slack, pages = FakeSlack().start(), FakeStatusPages().start()
    slack.rate_limits = False  # the warm-up asks users.info and conversations.members once each; steady use is cached
    web = web_settings(slack)
    port, base = web.pop("listen_port"), web["web_base_url"]
    clock = ManualClock(datetime(2026, 11, 25, 14, 0, tzinfo=UTC))
    try:
        with bench_settings(slack, pages, **web) as settings:
            server = BotServer(settings, slack, clock, port)
            try:
                seed(server, incidents, 1, {1: timeline}, slack)
                session = signed_in(server.bot, VIEWER)
                return {
                    "list": timed(session, base + "/", repeat),
                    "list filtered": timed(session, base + "/?severity=SEV-1&q=failures", repeat),
                    "incident page": timed(session, base + "/incidents/1", repeat),
                    "incident poll": timed(session, base + "/incidents/1/version", repeat),
                    "insights": timed(session, base + "/insights", max(3, repeat // 4)),
                }
            finally:
                server.close()
    finally:
        slack.stop()
        pages.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    options = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    small = measure(100, 1_000, options.repeat)
    big = measure(1_000, 10_000, options.repeat)
    print("web view: 100 incidents / 1,000 timeline entries, then 1,000 / 10,000")
    for name in big:
        (figures_small, size_small), (figures_big, size_big) = small[name], big[name]
        print(row(f"{name} (small)", figures_small) + f"  {size_small / 1024:7.0f} KiB")
        print(row(f"{name} (10x)", figures_big) + f"  {size_big / 1024:7.0f} KiB")
        print(f"{'':<28}p50 ratio 10x/small: {figures_big['p50'] / figures_small['p50']:.1f}")


if __name__ == "__main__":
    main()
