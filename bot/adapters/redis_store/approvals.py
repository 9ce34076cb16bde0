"""Approval requests in Redis: every decision, move and execution claim is one Lua script, so two clicks or two
workers never both win, and the moves allowed are exactly the core's table (`bot/core/approval.py`).

Keys:
    approval:<id>              hash: request and outcome (JSON), status, verification, requester, expiry,
                               decision, execution lease, attempts, version (bumped by every change)
    approval:<id>:approvers    set: who may approve, fixed when the request was made
    approval:<id>:cards        list: `<channel> <ts>` of each card showing it
    incident:<n>:approvals     set: the incident's requests (resolving cancels what was not sent)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import cast

import redis

from bot.adapters.redis_store.keys import Keys
from bot.core.approval import (
    ApprovalRequest,
    Move,
    Outcome,
    Refusal,
    RequestStatus,
    Verification,
    allowed_from,
    leads_to,
)
from bot.core.incident import CLOSED_STATUSES

# The one decision of a request. Checks, together: it exists, is pending, has not expired, its incident is
# still open, the approver is not the requester and is one of its approvers (a requester may withdraw).
_DECIDE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'pending' then return 'decided' end
if tonumber(redis.call('HGET', KEYS[1], 'expires_at')) <= tonumber(ARGV[2]) then return 'expired' end
local incident = redis.call('HGET', KEYS[3], 'status')
for closed in string.gmatch(ARGV[4], '[^,]+') do
  if incident == closed then return 'closed' end
end
local requester = redis.call('HGET', KEYS[1], 'requester')
if ARGV[3] == 'approved' and requester == ARGV[1] then return 'self' end
if requester ~= ARGV[1] and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return 'unauthorized' end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'decided_by', ARGV[1], 'decided_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 'ok'
"""

# A move: from one of the allowed statuses (ARGV[3..]) to ARGV[1]; ARGV[2] is the outcome JSON to store (or '').
_MOVE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
for i = 3, #ARGV do
  if ARGV[i] == status then
    redis.call('HSET', KEYS[1], 'status', ARGV[1])
    if ARGV[2] ~= '' then
      redis.call('HSET', KEYS[1], 'outcome', ARGV[2], 'verification', cjson.decode(ARGV[2])['verification'])
    end
    redis.call('HINCRBY', KEYS[1], 'version', 1)
    return 1
  end
end
return 0
"""

# Claims the execution for one worker (a lease) and says what it has to do, from where the request stands:
# prepare (nothing sent yet), settle (sent, no answer: read back), lost (a worker died while sending: the
# request becomes UNKNOWN, never APPROVED, and is settled), finish (applied: follow-ups and read back), verify
# (executed, not read back yet), watch (a guided change), cancelled, busy (another worker holds it), or done.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'done' end
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
if tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0') > now then return 'busy' end
local incident = redis.call('HGET', KEYS[2], 'status')
local closed = false
for state in string.gmatch(ARGV[3], '[^,]+') do
  if incident == state then closed = true end
end
local task = 'done'
if status == 'approved' or status == 'preparing' then
  if closed then
    redis.call('HSET', KEYS[1], 'status', 'cancelled')
    redis.call('HINCRBY', KEYS[1], 'version', 1)
    return 'cancelled'
  end
  redis.call('HSET', KEYS[1], 'status', 'preparing')
  task = 'prepare'
elseif status == 'sending' then
  redis.call('HSET', KEYS[1], 'status', 'unknown')
  redis.call('HINCRBY', KEYS[1], 'version', 1)
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

_REFUSALS = {
    "missing": Refusal.MISSING,
    "expired": Refusal.EXPIRED,
    "closed": Refusal.CLOSED,
    "self": Refusal.SELF,
    "unauthorized": Refusal.UNAUTHORIZED,
    "decided": Refusal.DECIDED,
}
CLOSED = ",".join(json.dumps(status.value) for status in CLOSED_STATUSES)  # as the incident hash stores them


class ApprovalStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self._decide = client.register_script(_DECIDE)
        self._move = client.register_script(_MOVE)
        self._claim = client.register_script(_CLAIM)

    def create(self, request: ApprovalRequest, approvers: frozenset[str]) -> None:
        key = self._key("approval", request.id)
        pipe = self._redis.pipeline()
        pipe.hset(
            key,
            mapping={
                "request": request.model_dump_json(),
                "outcome": Outcome().model_dump_json(),
                "status": RequestStatus.PENDING.value,
                "verification": Verification.PENDING.value,
                "requester": request.requester,
                "expires_at": str(request.expires_at.timestamp()),
                "version": 0,
            },
        )
        if approvers:
            pipe.sadd(self._key("approval", request.id, "approvers"), *sorted(approvers))
        pipe.sadd(self._key("incident", request.incident, "approvals"), request.id)
        pipe.execute()

    def get(self, approval_id: str) -> tuple[ApprovalRequest, Outcome] | None:
        return _parsed(cast(dict[str, str], self._redis.hgetall(self._key("approval", approval_id))))

    def all_of_incident(self, incident: int) -> dict[str, tuple[ApprovalRequest, Outcome]]:
        """Every request of an incident with its outcome, in one round trip after the index."""
        ids = self.of_incident(incident)
        with self._redis.pipeline(transaction=False) as pipe:
            for approval_id in ids:
                pipe.hgetall(self._key("approval", approval_id))
            found = [_parsed(raw) for raw in pipe.execute()]
        return {approval_id: pair for approval_id, pair in zip(ids, found, strict=True) if pair is not None}

    def version(self, approval_id: str) -> int:
        return int(cast(str, self._redis.hget(self._key("approval", approval_id), "version")) or 0)

    def of_incident(self, incident: int) -> list[str]:
        return sorted(cast(set[str], self._redis.smembers(self._key("incident", incident, "approvals"))))

    def approvers(self, approval_id: str) -> set[str]:
        return cast(set[str], self._redis.smembers(self._key("approval", approval_id, "approvers")))

    def decide(self, approval_id: str, incident: int, actor: str, approve: bool, now: datetime) -> Refusal | None:
        move = Move.APPROVE if approve else Move.DENY
        answer = self._decide(
            keys=[
                self._key("approval", approval_id),
                self._key("approval", approval_id, "approvers"),
                self._key("incident", incident),
            ],
            args=[actor, now.timestamp(), leads_to(move).value, CLOSED],
        )
        return None if answer == "ok" else _REFUSALS[str(answer)]

    def move(self, approval_id: str, move: Move, outcome: Outcome | None = None) -> bool:
        """Applies `move` if the request is in a status it may start from; True when it did."""
        return bool(
            self._move(
                keys=[self._key("approval", approval_id)],
                args=[
                    leads_to(move).value,
                    outcome.model_dump_json() if outcome is not None else "",
                    *sorted(status.value for status in allowed_from(move)),
                ],
            )
        )

    def claim(self, approval_id: str, incident: int, now: datetime, lease_seconds: int) -> str:
        """What this worker has to do for the request (see _CLAIM), holding its lease while it does."""
        return str(
            self._claim(
                keys=[self._key("approval", approval_id), self._key("incident", incident)],
                args=[now.timestamp(), lease_seconds, CLOSED],
            )
        )

    def release(self, approval_id: str) -> None:
        """Ends this worker's lease (its work is done, or failed and will be picked up again)."""
        self._redis.hset(self._key("approval", approval_id), "lease_until", 0)

    def record(self, approval_id: str, outcome: Outcome) -> None:
        """Stores outcome details (prior values, results, verification, revert link) without a move."""
        pipe = self._redis.pipeline()
        key = self._key("approval", approval_id)
        pipe.hset(key, mapping={"outcome": outcome.model_dump_json(), "verification": outcome.verification.value})
        pipe.hincrby(key, "version", 1)
        pipe.execute()

    def add_card(self, approval_id: str, channel: str, ts: str) -> None:
        self._redis.rpush(self._key("approval", approval_id, "cards"), f"{channel} {ts}")

    def cards(self, approval_id: str) -> list[tuple[str, str]]:
        raw = cast(list[str], self._redis.lrange(self._key("approval", approval_id, "cards"), 0, -1))
        return [cast(tuple[str, str], tuple(card.split(" ", 1))) for card in raw]


def _parsed(raw: dict[str, str]) -> tuple[ApprovalRequest, Outcome] | None:
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
        }
    )
    return ApprovalRequest.model_validate_json(raw["request"]), outcome
