"""The audit trail in Redis: a stream per incident, each entry carrying the hash of the one before.

Keys:
    incident:<n>:audit         stream of audit entries
    incident:<n>:audit:head    the hash of the last entry
"""

from __future__ import annotations

from typing import cast

import redis

from bot.adapters.redis_store.keys import Keys
from bot.core.audit import GENESIS, AuditEntry


class AuditStore:
    """Per-incident, append-only, hash-chained: each entry carries the hash of the one before."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)

    def append(self, incident: int, entry: AuditEntry) -> AuditEntry:
        stream, head = self._key("incident", incident, "audit"), self._key("incident", incident, "audit", "head")
        while True:
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(head)  # type: ignore[no-untyped-call]
                    previous = cast(str | None, pipe.get(head)) or GENESIS
                    sealed = entry.sealed(previous)
                    pipe.multi()
                    pipe.xadd(stream, {"entry": sealed.model_dump_json()})
                    pipe.set(head, sealed.hash)
                    pipe.execute()
                    return sealed
                except redis.WatchError:
                    continue

    def entries(self, incident: int) -> list[tuple[str, AuditEntry]]:
        raw = cast(list[tuple[str, dict[str, str]]], self._redis.xrange(self._key("incident", incident, "audit")))
        return [(entry_id, AuditEntry.model_validate_json(fields["entry"])) for entry_id, fields in raw]
