"""Benchmark: the post-mortem draft of an incident with 10,000 timeline entries.

Prints the time and peak memory of (1) building and rendering the draft from entries in memory, and (2) the
same from a real Redis stream, read the way the bot reads it (REDIS_URL, else the Redis at 127.0.0.1:6379, else
one started for the run).

Run: `.venv/bin/python -m bench.postmortem_render`
"""

from __future__ import annotations

import re
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from bench.harness import redis_url
from bot.adapters.playbook_files import BUNDLED_PLAYBOOKS, load_runbook
from bot.adapters.redis_store.audit import AuditStore
from bot.adapters.redis_store.timeline import TimelineStore
from bot.config import STEP_SETTINGS
from bot.core.incident import Incident, IncidentStatus
from bot.core.postmortem import ActionItem, CustomerImpact, build, compile_template, render_postmortem
from bot.core.severity import Severity
from bot.core.timeline import EntryKind, TimelineEntry
from bot.presenters.lifecycle import canvas_mention

ENTRIES = 10_000
ROUNDS = 5
START = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Paris")


def incident() -> Incident:
    return Incident(
        number=1,
        title="Org Chat leaks data",
        severity=Severity.SEV1,
        team_id="T1",
        declared_by="U1",
        declared_at=START,
        commander="U1",
        status=IncidentStatus.RESOLVED,
        first_signal_at=START - timedelta(minutes=8),
        mitigated_at=START + timedelta(hours=2),
        resolved_at=START + timedelta(hours=7),
        root_cause="A prompt injection.",
    )


def entries() -> list[TimelineEntry]:
    kinds = list(EntryKind)
    return [
        TimelineEntry(
            at=START + timedelta(seconds=2 * i),
            kind=kinds[i % len(kinds)],
            actor=f"U{i % 40:04d}",
            text=f"entry {i}: step, query or message | with a pipe",
            permalink=None,
        )
        for i in range(ENTRIES)
    ]


def measure(label: str, work: Callable[[], str]) -> None:
    times, peaks = [], []
    for _ in range(ROUNDS):
        tracemalloc.start()
        started = time.perf_counter()
        markdown = work()
        times.append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    print(
        f"{label}: median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, "
        f"max {max(times) * 1000:.0f}) over {ROUNDS} runs; peak traced memory "
        f"{max(peaks) / 2**20:.1f} MiB; draft {len(markdown) / 1024:.0f} KiB, "
        f"{len(re.findall(r'^[|] T[+-][0-9]', markdown, re.MULTILINE))} timeline rows"
    )


def main() -> None:
    runbook = load_runbook(BUNDLED_PLAYBOOKS, STEP_SETTINGS)
    template = compile_template(runbook.postmortem_template)
    level = runbook.severities[Severity.SEV1]
    impact = CustomerImpact("", 12, 42, "13:00 to 14:00", [])
    actions = [ActionItem(text="Alert on LIMIT 9999", owner="U2", due=None, added_by="U1", added_at=START)]
    in_memory = entries()

    def from_memory() -> str:
        draft = build(incident(), level, in_memory, [], impact, actions, ZONE)
        return render_postmortem(template, draft, canvas_mention)

    measure(f"build + render, {ENTRIES} entries in memory", from_memory)

    with redis_url() as url:
        client = redis.Redis.from_url(url, decode_responses=True)
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        store, audit = TimelineStore(client, prefix), AuditStore(client, prefix)
        pipe = client.pipeline(transaction=False)
        for entry in in_memory:
            pipe.xadd(f"{prefix}:incident:1:timeline", {"entry": entry.model_dump_json()})
        pipe.execute()

        def from_redis() -> str:
            stored = sorted(store.entries(1), key=lambda e: e.at)
            draft = build(incident(), level, stored, [e for _, e in audit.entries(1)], impact, actions, ZONE)
            return render_postmortem(template, draft, canvas_mention)

        measure(f"read from Redis + build + render, {ENTRIES} entries", from_redis)
        client.delete(f"{prefix}:incident:1:timeline")


if __name__ == "__main__":
    main()
