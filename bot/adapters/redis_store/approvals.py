"""Approval requests in Redis: every decision, move and execution claim is one Lua script, so two clicks or two
workers never both win, and the moves allowed are exactly the core's table (`bot/core/approval.py`).

Each script also writes the audit entry of what it changed (`AUDIT_LUA`), so a change is never without its entry
and an entry never without its change, keeps the index of requests approved and not yet sent (which the worker's
sweep sends on when their queued job was lost), and lets a switch be reverted again when its revert ended having
changed nothing.

Keys:
    approval:<id>              hash: request and outcome (JSON), status, verification, requester, expiry,
                               decision, execution lease, attempts, reverted_by, version (bumped by every change)
    approval:<id>:approvers    set: who may approve, fixed when the request was made
    approval:<id>:cards        list: `<channel> <ts>` of each card showing it
    incident:<n>:approvals     set: the incident's requests (resolving cancels what was not sent)
    approvals:unsent           set: requests approved whose change has not been sent yet
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import redis

from bot.adapters.redis_store.audit import AUDIT_LUA, AuditStore, AuditWrite
from bot.adapters.redis_store.keys import CONFLICT_RETRIES, Keys
from bot.core.approval import (
    CHANGED_NOTHING,
    UNSENT,
    ApprovalRequest,
    Move,
    Outcome,
    Refusal,
    RequestStatus,
    Verification,
    allowed_from,
    leads_to,
)
from bot.core.audit import Audit
from bot.core.incident import CLOSED_STATUSES

# Helpers of every script that changes a request's status. KEYS[2] is the unsent index, KEYS[3] the request a
# revert is for (or the request itself), KEYS[4..8] the audit keys (with the event outbox); ARGV[1] is the
# request's id, ARGV[2] '1' for a revert, ARGV[3] the statuses that wait to be sent, ARGV[4] those that changed
# nothing.
_HELPERS = (
    AUDIT_LUA
    + """
local function listed(csv, value)
  for item in string.gmatch(csv, '[^,]+') do
    if item == value then return true end
  end
  return false
end
local function moved(status)
  redis.call('HSET', KEYS[1], 'status', status)
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  if listed(ARGV[3], status) then
    redis.call('SADD', KEYS[2], ARGV[1])
  else
    redis.call('SREM', KEYS[2], ARGV[1])
  end
  if ARGV[2] == '1' and listed(ARGV[4], status) and redis.call('HGET', KEYS[3], 'reverted_by') == ARGV[1] then
    redis.call('HSET', KEYS[3], 'reverted_by', '')
    redis.call('HINCRBY', KEYS[3], 'version', 1)
  end
end
"""
)

# The one decision of a request. Checks, together: it exists, is pending, has not expired, its incident is
# still open (a revert may be decided after resolve), the approver is not the requester and is one of its
# approvers (a requester may withdraw). KEYS[9] approvers, KEYS[10] incident; ARGV[5] payload, ARGV[6] actor,
# ARGV[7] now, ARGV[8] the status it leads to, ARGV[9] closed incident statuses.
_DECIDE = (
    _HELPERS
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'pending' then return 'decided' end
if tonumber(redis.call('HGET', KEYS[1], 'expires_at')) <= tonumber(ARGV[7]) then return 'expired' end
if ARGV[2] ~= '1' and listed(ARGV[9], redis.call('HGET', KEYS[10], 'status') or '') then return 'closed' end
local requester = redis.call('HGET', KEYS[1], 'requester')
if ARGV[8] == 'approved' and requester == ARGV[6] then return 'self' end
if requester ~= ARGV[6] and redis.call('SISMEMBER', KEYS[9], ARGV[6]) == 0 then return 'unauthorized' end
if not audit_fresh(4, ARGV[5]) then return 'stale' end
redis.call('HSET', KEYS[1], 'decided_by', ARGV[6], 'decided_at', ARGV[7])
moved(ARGV[8])
audit_write(4, ARGV[5])
return 'ok'
"""
)

# A move: from one of the allowed statuses (ARGV[8..]) to ARGV[6]; ARGV[7] is the outcome JSON to store (or '').
_MOVE = (
    _HELPERS
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'no' end
for i = 8, #ARGV do
  if ARGV[i] == status then
    if not audit_fresh(4, ARGV[5]) then return 'stale' end
    if ARGV[7] ~= '' then
      redis.call('HSET', KEYS[1], 'outcome', ARGV[7], 'verification', cjson.decode(ARGV[7])['verification'])
    end
    moved(ARGV[6])
    audit_write(4, ARGV[5])
    return 'ok'
  end
end
return 'no'
"""
)

# Outcome details (prior values, results, verification) without a move, with their audit entry if any; KEYS and
# ARGV as in every script, ARGV[6] the outcome JSON.
_RECORD = (
    AUDIT_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no' end
if not audit_fresh(4, ARGV[5]) then return 'stale' end
redis.call('HSET', KEYS[1], 'outcome', ARGV[6], 'verification', cjson.decode(ARGV[6])['verification'])
redis.call('HINCRBY', KEYS[1], 'version', 1)
audit_write(4, ARGV[5])
return 'ok'
"""
)

# Claims the execution for one worker (a lease) and says what it has to do, from where the request stands:
# prepare (nothing sent yet), settle (sent, no answer: read back), lost (a worker died while sending: the
# request becomes UNKNOWN, never APPROVED, and is settled), finish (applied: follow-ups and read back), verify
# (executed, not read back yet), watch (a guided change), cancelled (its incident was resolved first; a revert
# goes on), busy (another worker holds it), or done. ARGV[5] and ARGV[6] are the audit entries of cancelled and
# lost; ARGV[7] now, ARGV[8] the lease, ARGV[9] closed incident statuses; KEYS[9] the incident.
_CLAIM = (
    _HELPERS
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'done' end
local now, lease = tonumber(ARGV[7]), tonumber(ARGV[8])
if tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') > now then return 'busy' end
local closed = ARGV[2] ~= '1' and listed(ARGV[9], redis.call('HGET', KEYS[9], 'status') or '')
local task = 'done'
if status == 'approved' or status == 'preparing' then
  if closed then
    if not audit_fresh(4, ARGV[5]) then return 'stale' end
    moved('cancelled')
    audit_write(4, ARGV[5])
    return 'cancelled'
  end
  redis.call('HSET', KEYS[1], 'status', 'preparing')
  task = 'prepare'
elseif status == 'sending' then
  if not audit_fresh(4, ARGV[6]) then return 'stale' end
  moved('unknown')
  audit_write(4, ARGV[6])
  task = 'lost'
elseif status == 'unknown' then task = 'settle'
elseif status == 'applied' then task = 'finish'
elseif status == 'guided' then task = 'watch'
elseif status == 'executed' and redis.call('HGET', KEYS[1], 'verification') == 'pending' then task = 'verify'
end
if task ~= 'done' then
  redis.call('HSET', KEYS[1], 'lease_until', now + lease)
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
end
return task
"""
)

# A new request, with its "requested" entry; a revert also marks the request it reverts, unless another revert of
# it is asked already (its mark is cleared when a revert ends changing nothing): then it answers 'reverted:<id>'
# and writes nothing. KEYS[9] approvers, KEYS[10] the incident's index.
_CREATE = (
    _HELPERS
    + """
if ARGV[2] == '1' then
  local mark = redis.call('HGET', KEYS[3], 'reverted_by') or ''
  if mark ~= '' then return 'reverted:' .. mark end
end
if not audit_fresh(4, ARGV[5]) then return 'stale' end
redis.call('HSET', KEYS[1], 'request', ARGV[6], 'outcome', ARGV[7], 'status', 'pending', 'verification', 'pending',
  'requester', ARGV[8], 'expires_at', ARGV[9], 'version', 0)
for i = 10, #ARGV do redis.call('SADD', KEYS[9], ARGV[i]) end
redis.call('SADD', KEYS[10], ARGV[1])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[3], 'reverted_by', ARGV[1])
  redis.call('HINCRBY', KEYS[3], 'version', 1)
end
audit_write(4, ARGV[5])
return 'ok'
"""
)

logger = logging.getLogger(__name__)
WAITAOF_MS = 1000

_REFUSALS = {
    "missing": Refusal.MISSING,
    "expired": Refusal.EXPIRED,
    "closed": Refusal.CLOSED,
    "self": Refusal.SELF,
    "unauthorized": Refusal.UNAUTHORIZED,
    "decided": Refusal.DECIDED,
}
CLOSED = ",".join(json.dumps(status.value) for status in CLOSED_STATUSES)  # as the incident hash stores them
_UNSENT = ",".join(status.value for status in UNSENT)
_CHANGED_NOTHING = ",".join(status.value for status in CHANGED_NOTHING)


class RevertAlreadyAsked(Exception):
    """Someone asked to revert the same request a moment earlier."""


class ApprovalStore:
    def __init__(self, client: redis.Redis, prefix: str, audit: AuditStore) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self._audit = audit
        self._decide = client.register_script(_DECIDE)
        self._move = client.register_script(_MOVE)
        self._record = client.register_script(_RECORD)
        self._claim = client.register_script(_CLAIM)
        self._create = client.register_script(_CREATE)
        self._without_waitaof = False  # the server refused WAITAOF once: it predates Redis 7.2

    def _run(self, script: Any, keys: list[str], args: list[Any], *audits: Audit | None) -> str:
        """Runs a script with the audit entries it may write, sealed again while another entry came in between;
        logs the one it wrote."""
        incident = next((audit.incident for audit in audits if audit is not None), None)
        for _ in range(CONFLICT_RETRIES):
            writes = [self._audit.prepare(audit) if audit is not None else None for audit in audits]
            audit_keys = self._audit.keys(incident) if incident is not None else [keys[0]] * 5
            payloads = [write.payload if write is not None else "" for write in writes]
            answer = str(script(keys=[*keys[:3], *audit_keys, *keys[3:]], args=[*args[:4], *payloads, *args[4:]]))
            if answer != "stale":
                self._logged(answer, writes)
                return answer
        raise RuntimeError("the audit trail kept changing while a request was written")

    def _logged(self, answer: str, writes: list[AuditWrite | None]) -> None:
        if answer in ("ok", "cancelled") and writes and writes[0] is not None:
            self._audit.written(writes[0])
        elif answer == "lost" and len(writes) > 1 and writes[1] is not None:
            self._audit.written(writes[1])

    def _status_keys(self, request: ApprovalRequest) -> list[str]:
        """The request, the unsent index and the request a revert is for (KEYS[1..3] of every script)."""
        key = self._key("approval", request.id)
        original = self._key("approval", request.reverts) if request.reverts else key
        return [key, self._key("approvals", "unsent"), original]

    def _status_args(self, request: ApprovalRequest) -> list[str]:
        return [request.id, "1" if request.reverts else "0", _UNSENT, _CHANGED_NOTHING]

    def create(self, request: ApprovalRequest, approvers: frozenset[str], audit: Audit) -> None:
        """Stores a new request with its "requested" entry; a revert marks the request it reverts (raises
        RevertAlreadyAsked, naming it, when another revert of it is asked already: two people a moment apart)."""
        keys = [
            *self._status_keys(request),
            self._key("approval", request.id, "approvers"),
            self._key("incident", request.incident, "approvals"),
        ]
        args = [
            *self._status_args(request),
            request.model_dump_json(),
            _stored(Outcome()),
            request.requester,
            str(request.expires_at.timestamp()),
            *sorted(approvers),
        ]
        answer = self._run(self._create, keys, args, audit)
        if answer.startswith("reverted:"):
            raise RevertAlreadyAsked(answer.removeprefix("reverted:"))

    def get(self, approval_id: str) -> tuple[ApprovalRequest, Outcome] | None:
        return _parsed(cast(dict[str, str], self._redis.hgetall(self._key("approval", approval_id))))

    def all_of_incident(self, incident: int) -> dict[str, tuple[ApprovalRequest, Outcome]]:
        """Every request of an incident with its outcome, oldest first, in one round trip after the index."""
        found = self._many(self.of_incident(incident))
        return dict(sorted(found.items(), key=lambda item: (item[1][0].created_at, item[0])))

    def _many(self, ids: Iterable[str]) -> dict[str, tuple[ApprovalRequest, Outcome]]:
        ids = list(ids)
        with self._redis.pipeline(transaction=False) as pipe:
            for approval_id in ids:
                pipe.hgetall(self._key("approval", approval_id))
            found = [_parsed(raw) for raw in pipe.execute()]
        return {approval_id: pair for approval_id, pair in zip(ids, found, strict=True) if pair is not None}

    def unsent(self) -> dict[str, tuple[ApprovalRequest, Outcome]]:
        """The requests approved whose change has not been sent yet."""
        return self._many(sorted(cast(set[str], self._redis.smembers(self._key("approvals", "unsent")))))

    def version(self, approval_id: str) -> int:
        return int(cast(str, self._redis.hget(self._key("approval", approval_id), "version")) or 0)

    def of_incident(self, incident: int) -> list[str]:
        return sorted(cast(set[str], self._redis.smembers(self._key("incident", incident, "approvals"))))

    def approvers(self, approval_id: str) -> set[str]:
        return cast(set[str], self._redis.smembers(self._key("approval", approval_id, "approvers")))

    def decide(
        self, request: ApprovalRequest, actor: str, approve: bool, now: datetime, audit: Audit
    ) -> Refusal | None:
        """The one decision, with its audit entry; a refusal writes nothing (the caller audits it)."""
        move = Move.APPROVE if approve else Move.DENY
        keys = [
            *self._status_keys(request),
            self._key("approval", request.id, "approvers"),
            self._key("incident", request.incident),
        ]
        args = [*self._status_args(request), actor, now.timestamp(), leads_to(move).value, CLOSED]
        answer = self._run(self._decide, keys, args, audit)
        return None if answer == "ok" else _REFUSALS[answer]

    def move(
        self, request: ApprovalRequest, move: Move, outcome: Outcome | None = None, audit: Audit | None = None
    ) -> bool:
        """Applies `move` if the request is in a status it may start from, with its audit entry; True if it did."""
        args = [
            *self._status_args(request),
            leads_to(move).value,
            _stored(outcome) if outcome is not None else "",
            *sorted(status.value for status in allowed_from(move)),
        ]
        return self._run(self._move, self._status_keys(request), args, audit) == "ok"

    def claim(self, request: ApprovalRequest, now: datetime, lease_seconds: int, cancelled: Audit, lost: Audit) -> str:
        """What this worker has to do for the request (see _CLAIM), holding its lease while it does."""
        keys = [*self._status_keys(request), self._key("incident", request.incident)]
        args = [*self._status_args(request), now.timestamp(), lease_seconds, CLOSED]
        return self._run(self._claim, keys, args, cancelled, lost)

    def durable(self) -> None:
        """Waits until what was written is on the Redis host's disk (WAITAOF, Redis 7.2+), so that a crash of
        the host a moment later cannot lose the mark that a change was sent; where the server cannot say (older,
        or without an append-only file) it goes on: docs/reliability.md says what each setting guarantees."""
        if self._without_waitaof:
            return
        try:
            self._redis.execute_command("WAITAOF", 1, 0, WAITAOF_MS)  # type: ignore[no-untyped-call]
        except redis.ResponseError as error:
            logger.info("WAITAOF is not available (%s): relying on the append-only file's fsync policy", error)
            self._without_waitaof = True

    def release(self, approval_id: str) -> None:
        """Ends this worker's lease (its work is done, or failed and will be picked up again)."""
        self._redis.hset(self._key("approval", approval_id), "lease_until", 0)

    def record(self, request: ApprovalRequest, outcome: Outcome, audit: Audit | None = None) -> None:
        """Stores outcome details (prior values, results, verification) without a move, with their audit entry."""
        key = self._key("approval", request.id)
        self._run(self._record, [key, key, key], ["", "", "", "", _stored(outcome)], audit)

    def add_card(self, approval_id: str, channel: str, ts: str) -> None:
        self._redis.rpush(self._key("approval", approval_id, "cards"), f"{channel} {ts}")

    def cards(self, approval_id: str) -> list[tuple[str, str]]:
        raw = cast(list[str], self._redis.lrange(self._key("approval", approval_id, "cards"), 0, -1))
        return [cast(tuple[str, str], tuple(card.split(" ", 1))) for card in raw]


def _stored(outcome: Outcome) -> str:
    """An outcome as the hash keeps it: what a revert marks is a field of its own, changed only by the scripts."""
    return outcome.model_dump_json(exclude={"reverted_by"})


def _parsed(raw: Mapping[str, str]) -> tuple[ApprovalRequest, Outcome] | None:
    if not raw:
        return None
    outcome = Outcome.model_validate_json(raw["outcome"])
    decided_at = float(raw["decided_at"]) if raw.get("decided_at") else None
    outcome = outcome.model_copy(
        update={
            "status": RequestStatus(raw["status"]),
            "decided_by": raw.get("decided_by") or None,
            "decided_at": datetime.fromtimestamp(decided_at, UTC) if decided_at else None,
            "attempts": int(raw.get("attempts") or 0),
            # the field is the truth ('' once a revert changed nothing); before it existed, the outcome's copy
            "reverted_by": raw.get("reverted_by", outcome.reverted_by) or None,
            "verification": Verification(raw.get("verification") or outcome.verification),
        }
    )
    return ApprovalRequest.model_validate_json(raw["request"]), outcome
