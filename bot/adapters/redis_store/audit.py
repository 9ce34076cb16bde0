"""The audit trail in Redis: a stream per incident of sealed, numbered entries and their signed head, and the
witness chain that seals every head an incident's trail reaches.

An entry is sealed here against the heads read just before, and written by a Lua script only if no other entry
came in between (else it is sealed again): by `append` on its own, or by the approvals store's scripts together
with the change it records, so a change and its entry are never apart. Each entry written is also logged as one
JSON line with its seal (a private incident's without its words), so a log store keeps a copy.

Keys:
    incident:<n>:audit         stream of audit entries (JSON in the field `entry`)
    incident:<n>:audit:head    hash: count, hash (the last entry's seal), signature and key_id (the head's seal)
    audit:witness              stream of witness entries: each incident's trail reaching a head
    audit:witness:head         hash: the witness chain's signed head
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import redis

from bot.adapters.redis_store.events import OUTBOX_LENGTH
from bot.adapters.redis_store.keys import CONFLICT_RETRIES, Keys
from bot.core.audit import EMPTY, GENESIS, WITNESS, Audit, AuditEntry, AuditHead, Seal, SignedHead, witness_entry

logger = logging.getLogger("bot.audit")

# Lua helpers that every script writing an audit entry starts with. KEYS[k..k+4] are the incident's stream and
# head, the witness's stream and head, and the event outbox; `raw` is AuditWrite.payload ('' for no entry).
AUDIT_LUA = """
local function audit_fresh(k, raw)
  if raw == '' then return true end
  local a = cjson.decode(raw)
  local head = redis.call('HMGET', KEYS[k + 1], 'count', 'hash')
  local witness = redis.call('HMGET', KEYS[k + 3], 'count', 'hash')
  return (head[1] or '') == a.expect[1] and (head[2] or '') == a.expect[2]
    and (witness[1] or '') == a.wexpect[1] and (witness[2] or '') == a.wexpect[2]
end
local function audit_write(k, raw)
  if raw == '' then return end
  local a = cjson.decode(raw)
  redis.call('XADD', KEYS[k], '*', 'entry', a.entry)
  redis.call('HSET', KEYS[k + 1], 'count', a.head[1], 'hash', a.head[2], 'signature', a.head[3], 'key_id', a.head[4])
  redis.call('XADD', KEYS[k + 2], '*', 'entry', a.witness)
  redis.call('HSET', KEYS[k + 3], 'count', a.whead[1], 'hash', a.whead[2], 'signature', a.whead[3], 'key_id',
    a.whead[4])
  if a.event ~= '' then redis.call('XADD', KEYS[k + 4], 'MAXLEN', '~', a.outbox, '*', 'event', a.event) end
end
"""
_APPEND = (
    AUDIT_LUA
    + """
if not audit_fresh(1, ARGV[1]) then return 'stale' end
audit_write(1, ARGV[1])
return 'ok'
"""
)
# A trail written before the witness existed, witnessed as it stands: only the witness's entry and head.
_ADOPT = (
    AUDIT_LUA
    + """
if not audit_fresh(1, ARGV[1]) then return 'stale' end
local a = cjson.decode(ARGV[1])
redis.call('XADD', KEYS[3], '*', 'entry', a.witness)
redis.call('HSET', KEYS[4], 'count', a.whead[1], 'hash', a.whead[2], 'signature', a.whead[3], 'key_id', a.whead[4])
return 'ok'
"""
)


@dataclass(frozen=True)
class AuditWrite:
    """An entry sealed against the heads as read, with its witness entry: what a script writes, if still fresh."""

    audit: Audit | None
    sealed: AuditEntry
    keys: list[str]
    payload: str


class AuditStore:
    """Per-incident and append-only: an entry, the head that ends with it and its witness are written together."""

    def __init__(self, client: redis.Redis, prefix: str, seal: Seal) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self.seal = seal
        self._append = client.register_script(_APPEND)
        self._adopt = client.register_script(_ADOPT)

    def keys(self, incident: int) -> list[str]:
        """The incident's stream and head, the witness's, and the event outbox: the keys of every script that
        writes an entry."""
        stream = self._key("incident", incident, "audit")
        return [stream, f"{stream}:head", *self._witness_keys(), self._key("events")]

    def _witness_keys(self) -> list[str]:
        return [self._key("audit", "witness"), self._key("audit", "witness", "head")]

    def prepare(self, audit: Audit | None, incident: int = 0, at: datetime | None = None) -> AuditWrite:
        """`audit`'s entry sealed after the trail's head as it is now, and the witness's entry that it reached;
        without an entry, the witness's entry of `incident`'s trail as it stands (at `at`)."""
        number = audit.incident if audit is not None else incident
        keys = self.keys(number)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys[1], ["count", "hash"])
            pipe.hmget(keys[3], ["count", "hash"])
            raw_head, raw_witness = cast(list[list[str | None]], pipe.execute())
        head, witness_head = _head(raw_head), _head(raw_witness)
        sealed = self.seal.entry(number, audit.entry, head) if audit is not None else None
        reached = AuditHead(sealed.position, sealed.hash) if sealed is not None else head
        when = audit.entry.at if audit is not None else at
        assert when is not None
        witness = self.seal.entry(WITNESS, witness_entry(when, number, reached), witness_head)
        witnessed = AuditHead(witness.position, witness.hash)
        payload = {
            "expect": [raw_head[0] or "", raw_head[1] or ""],
            "wexpect": [raw_witness[0] or "", raw_witness[1] or ""],
            "entry": sealed.model_dump_json() if sealed is not None else "",
            "head": self._signed(number, reached),
            "witness": witness.model_dump_json(),
            "whead": self._signed(WITNESS, witnessed),
            "event": audit.event.model_dump_json() if audit is not None and audit.event is not None else "",
            "outbox": str(OUTBOX_LENGTH),
        }
        return AuditWrite(audit, sealed or witness, keys, json.dumps(payload))

    def _signed(self, incident: int, head: AuditHead) -> list[str]:
        return [str(head.count), head.hash, self.seal.head(incident, head), self.seal.key_id or ""]

    def written(self, write: AuditWrite) -> None:
        """The entry as one JSON log line with its seal, once it is in Redis."""
        if write.audit is None:
            return
        entry = write.sealed.model_dump(mode="json")
        if write.audit.private:
            entry.update(summary="[private incident]", details={})
        logger.info("audit entry", extra={"incident": write.audit.incident, "audit": entry})

    def append(self, audit: Audit) -> AuditEntry:
        """An entry that records no change of its own (a refusal, a person's word), written alone."""
        for _ in range(CONFLICT_RETRIES):
            write = self.prepare(audit)
            if self._append(keys=write.keys, args=[write.payload]) == "ok":
                self.written(write)
                return write.sealed
        raise RuntimeError(f"could not append to incident {audit.incident}'s audit trail: it kept changing")

    def adopt(self, incident: int, at: datetime) -> None:
        """Seals `incident`'s trail as it stands into the witness (a trail written before the witness existed)."""
        for _ in range(CONFLICT_RETRIES):
            write = self.prepare(None, incident, at)
            if self._adopt(keys=write.keys, args=[write.payload]) == "ok":
                return
        raise RuntimeError(f"could not witness incident {incident}'s audit trail: it kept changing")

    def entries(self, incident: int) -> list[AuditEntry]:
        return self._entries(self.keys(incident)[0])

    def witness(self) -> list[AuditEntry]:
        return self._entries(self._witness_keys()[0])

    def _entries(self, stream: str) -> list[AuditEntry]:
        raw = cast(list[tuple[str, dict[str, str]]], self._redis.xrange(stream))
        return [AuditEntry.model_validate_json(fields["entry"]) for _, fields in raw]

    def signed_head(self, incident: int) -> SignedHead | None:
        return _signed_head(cast(dict[str, str], self._redis.hgetall(self.keys(incident)[1])))

    def witness_head(self) -> SignedHead | None:
        return _signed_head(cast(dict[str, str], self._redis.hgetall(self._witness_keys()[1])))

    def head(self, incident: int) -> AuditHead:
        """The head as it stands (what a card shows)."""
        signed = self.signed_head(incident)
        return signed.head if signed else EMPTY


def _head(raw: list[str | None]) -> AuditHead:
    count, digest = raw
    if count is None and digest is None:
        return EMPTY
    try:
        return AuditHead(int(count or ""), digest or GENESIS)
    except ValueError:
        return EMPTY  # a head that is not ours: the chain will not verify


def _signed_head(fields: dict[str, str]) -> SignedHead | None:
    if not fields:
        return None
    try:
        head = AuditHead(int(fields["count"]), fields["hash"])
        return SignedHead(head, fields["signature"], fields.get("key_id", ""))
    except (KeyError, ValueError):
        return SignedHead(EMPTY, "")  # a head that is not ours: its signature will not hold
