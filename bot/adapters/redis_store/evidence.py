"""What the probes found, per incident: the latest run (the picker, the severity suggestion, the post-mortem and
related incidents read it).

Keys:
    incident:<n>:evidence      the latest probe run (JSON): started, done, findings, link to the rows
    incident:<n>:probing       who started the run in flight (one at a time per incident; expires with its budget)
    probe:<id>:samples         what a growth probe counted and when (sorted by time; the last SAMPLES_KEPT)
    probes:sampling            the current sampling slot's claim (one process samples per slot)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import cast

import redis

from bot.adapters.redis_store.keys import Keys
from bot.core.evidence import Probed

SAMPLES_KEPT = timedelta(hours=26)


class EvidenceStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)

    def save(self, number: int, probed: Probed) -> None:
        self._redis.set(self._key("incident", number, "evidence"), probed.model_dump_json())

    def start_run(self, number: int, by: str, seconds: float) -> str | None:
        """Claims the incident's one probe run; None when claimed, else who holds the run in flight."""
        key = self._key("incident", number, "probing")
        if self._redis.set(key, by, nx=True, px=int(seconds * 1000)):
            return None
        return str(self._redis.get(key) or "")

    def end_run(self, number: int) -> None:
        self._redis.delete(self._key("incident", number, "probing"))

    def record_sample(self, probe: str, at: datetime, count: int) -> None:
        """One measurement of a growth probe's count; measurements older than SAMPLES_KEPT go."""
        key, moment = self._key("probe", probe, "samples"), at.timestamp()
        with self._redis.pipeline() as pipe:
            pipe.zadd(key, {f"{moment:.0f}:{count}": moment})
            pipe.zremrangebyscore(key, "-inf", moment - SAMPLES_KEPT.total_seconds())
            pipe.expire(key, int(SAMPLES_KEPT.total_seconds()))
            pipe.execute()

    def sample_near(self, probe: str, moment: datetime, within: timedelta) -> tuple[datetime, int] | None:
        """The measurement closest to `moment`, no further from it than `within`."""
        low, high = (moment - within).timestamp(), (moment + within).timestamp()
        members = cast(list[str], self._redis.zrangebyscore(self._key("probe", probe, "samples"), low, high))
        samples = [(datetime.fromtimestamp(int(at), UTC), int(count)) for at, count in (m.split(":") for m in members)]
        return min(samples, key=lambda sample: abs(sample[0] - moment), default=None)

    def claim_sampling(self, seconds: int) -> bool:
        """Claims the sampling slot: True for the one process that samples now."""
        return bool(self._redis.set(self._key("probes", "sampling"), "1", nx=True, ex=seconds))

    def get(self, number: int) -> Probed | None:
        raw = self._redis.get(self._key("incident", number, "evidence"))
        return Probed.model_validate_json(cast(str, raw)) if raw else None

    def many(self, numbers: Iterable[int]) -> dict[int, Probed]:
        """The latest run of each incident that has one, in one round trip."""
        wanted = list(numbers)
        if not wanted:
            return {}
        raw = cast(list[str | None], self._redis.mget([self._key("incident", n, "evidence") for n in wanted]))
        return {n: Probed.model_validate_json(r) for n, r in zip(wanted, raw, strict=True) if r}
