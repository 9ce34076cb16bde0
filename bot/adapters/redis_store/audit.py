"""The audit trail in Redis: a stream per incident of sealed, numbered entries, and their signed head.

Keys:
    incident:<n>:audit         stream of audit entries (JSON in the field `entry`)
    incident:<n>:audit:head    hash: count, hash (the last entry's seal) and signature (the head's seal)
"""

from __future__ import annotations

from typing import cast

import redis

from bot.adapters.redis_store.keys import Keys
from bot.core.audit import EMPTY, AuditEntry, AuditHead, Seal, SignedHead


class AuditStore:
    """Per-incident and append-only: an entry and the head that ends with it are written together."""

    def __init__(self, client: redis.Redis, prefix: str, seal: Seal) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self.seal = seal

    def append(self, incident: int, entry: AuditEntry) -> AuditEntry:
        stream, head_key = self._key("incident", incident, "audit"), self._key("incident", incident, "audit", "head")
        while True:
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(head_key)  # type: ignore[no-untyped-call]
                    signed = _signed_head(cast(dict[str, str], pipe.hgetall(head_key)))
                    sealed = self.seal.entry(incident, entry, signed.head if signed else EMPTY)
                    head = AuditHead(sealed.position, sealed.hash)
                    pipe.multi()
                    pipe.xadd(stream, {"entry": sealed.model_dump_json()})
                    mapping = {"count": head.count, "hash": head.hash, "signature": self.seal.head(incident, head)}
                    pipe.hset(head_key, mapping=mapping)  # type: ignore[arg-type]
                    pipe.execute()
                    return sealed
                except redis.WatchError:
                    continue

    def entries(self, incident: int) -> list[AuditEntry]:
        raw = cast(list[tuple[str, dict[str, str]]], self._redis.xrange(self._key("incident", incident, "audit")))
        return [AuditEntry.model_validate_json(fields["entry"]) for _, fields in raw]

    def signed_head(self, incident: int) -> SignedHead | None:
        return _signed_head(cast(dict[str, str], self._redis.hgetall(self._key("incident", incident, "audit", "head"))))

    def head(self, incident: int) -> AuditHead:
        """The head as it stands (what a card shows)."""
        signed = self.signed_head(incident)
        return signed.head if signed else EMPTY


def _signed_head(fields: dict[str, str]) -> SignedHead | None:
    if not fields:
        return None
    try:
        return SignedHead(AuditHead(int(fields["count"]), fields["hash"]), fields["signature"])
    except (KeyError, ValueError):
        return SignedHead(EMPTY, "")  # a head that is not ours: its signature will not hold
