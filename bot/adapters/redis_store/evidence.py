"""What the probes found, per incident: the latest run (the picker, the severity suggestion, the post-mortem and
related incidents read it).

Keys:
    incident:<n>:evidence      the latest probe run (JSON): started, done, findings, link to the rows
    incident:<n>:probing       who started the run in flight (one at a time per incident; expires with its budget)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import redis

from bot.adapters.redis_store.keys import Keys
from bot.core.evidence import Probed


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
