"""Redis store: incidents, their walkthrough state and their timeline.

Keys (all under the KEY_PREFIX namespace):
    incident:seq               the last incident number
    incident:<n>               hash of the incident's fields, each a JSON value
    incidents:open             sorted set of open incident numbers
    channel:<id>               incident number of an incident channel
    dedupe:<key>               incident number a delivery (command, submission) already declared
    incident:<n>:steps         hash: `<scope>/<step id>` → step state (JSON)
    incident:<n>:steps:version counter bumped by every step change (to re-render stale messages)
    incident:<n>:messages      hash: message name (`first-five`, `picker`, `<playbook>/<phase>`) → ts
    incident:<n>:playbooks     sorted set of started playbook keys, in the order they started
    incident:<n>:results       hash: `<scope>/<step id>` → the step's last result (rows, total, query, time)
    incident:<n>:parameters    hash: parameter name → the value last given in this incident
    incident:<n>:timeline      stream of timeline entries
    incident:<n>:captures      hash: captured Slack message → its entry id, whether pinned, who reacted :pushpin:
    incident:<n>:actions       list of action items (JSON)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis
from pydantic import BaseModel

from bot.core.approval import ApprovalRequest, Outcome, Refusal, RequestStatus
from bot.core.audit import GENESIS, AuditEntry
from bot.core.incident import Incident
from bot.core.postmortem import ActionItem
from bot.core.timeline import TimelineEntry
from bot.core.walkthrough import StepResult, StepState, StepStatus

DEDUPE_TTL_SECONDS = 24 * 3600

# Returns {1, n} when this call allocated incident number n for the key, {0, n} when n was already allocated.
_CLAIM = """
local existing = redis.call('GET', KEYS[1])
if existing then return {0, tonumber(existing)} end
local number = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], number, 'EX', ARGV[1])
return {1, number}
"""


# One click, one round trip: checks the incident is open, the click came from its channel (ARGV[5], a JSON string,
# when given) and the playbook started, moves the step to its new
# state only from an allowed status (appending the timeline entry with it), and returns what the messages need.
_APPLY = """
local incident_status = redis.call('HGET', KEYS[1], 'status')
if not incident_status then return {'missing'} end
if incident_status == '"resolved"' or incident_status == '"declaring"' then
  return {'closed', redis.call('HGETALL', KEYS[1])}
end
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'channel_id') ~= ARGV[5] then
  return {'elsewhere', redis.call('HGETALL', KEYS[1])}
end
if ARGV[3] ~= 'first-five' and not redis.call('ZSCORE', KEYS[5], ARGV[3]) then return {'not_started'} end
local current = redis.call('HGET', KEYS[2], ARGV[1])
local status = 'pending'
if current then status = cjson.decode(current)['status'] end
local changed = 'unchanged'
for i = 6, #ARGV do
  if ARGV[i] == status then changed = 'changed' end
end
if changed == 'changed' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('INCR', KEYS[3])
  redis.call('XADD', KEYS[6], '*', 'entry', ARGV[4])
  current = ARGV[2]
end
return {changed, current or '', redis.call('GET', KEYS[3]) or '0', redis.call('HGETALL', KEYS[2]),
        redis.call('HGETALL', KEYS[4]), redis.call('ZRANGE', KEYS[5], 0, -1), redis.call('HGETALL', KEYS[1])}
"""

# Appends a member to an ordered set once: {1} when added (after the others), {0} when it was there.
_APPEND_ONCE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], redis.call('ZCARD', KEYS[1]), ARGV[1])
return 1
"""

# The one decision of a request. Checks, together: it exists, is pending, has not expired, its incident is
# still open, the approver is not the requester and is one of its approvers (a requester may withdraw).
_DECIDE = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing'} end
if status ~= 'pending' then return {'decided'} end
if tonumber(redis.call('HGET', KEYS[1], 'expires_at')) <= tonumber(ARGV[2]) then return {'expired'} end
if redis.call('HGET', KEYS[3], 'status') == '"resolved"' then return {'closed'} end
local requester = redis.call('HGET', KEYS[1], 'requester')
if ARGV[3] == 'approved' and requester == ARGV[1] then return {'self'} end
if requester ~= ARGV[1] and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return {'unauthorized'} end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'decided_by', ARGV[1], 'decided_at', ARGV[2])
return {'ok'}
"""

# Marks a pending request expired once its time has passed.
_EXPIRE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'expires_at')) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'expired', 'decided_at', ARGV[1])
return 1
"""

# Lets one execution run: from approved, or from executing whose lease ran out (its worker died).
_CLAIM_EXECUTION = """
local status = redis.call('HGET', KEYS[1], 'status')
local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
if status == 'approved' or (status == 'executing' and lease <= tonumber(ARGV[1])) then
  redis.call('HSET', KEYS[1], 'status', 'executing', 'lease_until', tonumber(ARGV[1]) + tonumber(ARGV[2]))
  return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
end
return 0
"""

_REFUSALS = {
    "missing": Refusal.MISSING,
    "expired": Refusal.EXPIRED,
    "closed": Refusal.CLOSED,
    "self": Refusal.SELF,
    "unauthorized": Refusal.UNAUTHORIZED,
    "decided": Refusal.DECIDED,
}

POSTING = "posting"
LOCK_SECONDS = 30


@contextmanager
def held(client: redis.Redis, key: str) -> Iterator[None]:
    """A Redis lock held for the block (released after LOCK_SECONDS should its holder die)."""
    with client.lock(key, timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS):
        yield


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])


class IncidentStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self._claim = client.register_script(_CLAIM)

    def claim_number(self, dedupe_key: str) -> tuple[bool, int]:
        """Allocates the next incident number for a delivery, once: a repeat gets the same number back."""
        created, number = self._claim(
            keys=[self._key("dedupe", dedupe_key), self._key("incident", "seq")], args=[DEDUPE_TTL_SECONDS]
        )
        return bool(created), int(number)

    def save(self, incident: Incident) -> None:
        fields = incident.model_dump(mode="json")
        pipe = self._redis.pipeline()
        pipe.hset(self._key("incident", incident.number), mapping={k: json.dumps(v) for k, v in fields.items()})
        self._index(pipe, incident)
        pipe.execute()

    def update(self, incident: Incident, **changes: Any) -> Incident:
        """Applies `changes` (validated by the model) and writes only those fields."""
        updated = incident.model_validate({**incident.model_dump(), **changes})
        dumped = updated.model_dump(mode="json")
        pipe = self._redis.pipeline()
        pipe.hset(self._key("incident", incident.number), mapping={k: json.dumps(dumped[k]) for k in changes})
        self._index(pipe, updated)
        pipe.execute()
        return updated

    def _index(self, pipe: redis.client.Pipeline, incident: Incident) -> None:
        if incident.channel_id:
            pipe.set(self._key("channel", incident.channel_id), incident.number)
        if incident.is_open:
            pipe.zadd(self._key("incidents", "open"), {str(incident.number): incident.number})
        else:
            pipe.zrem(self._key("incidents", "open"), str(incident.number))

    def get(self, number: int) -> Incident | None:
        raw = cast(dict[str, str], self._redis.hgetall(self._key("incident", number)))
        return _decode(raw)

    def locked(self, number: int, purpose: str) -> AbstractContextManager[None]:
        """Serializes one kind of work on an incident across processes (say, writing its post-mortem)."""
        return held(self._redis, self._key("lock", purpose, number))

    def add_action(self, number: int, item: ActionItem) -> None:
        self._redis.rpush(self._key("incident", number, "actions"), item.model_dump_json())

    def actions(self, number: int) -> list[ActionItem]:
        raw = cast(list[str], self._redis.lrange(self._key("incident", number, "actions"), 0, -1))
        return [ActionItem.model_validate_json(item) for item in raw]

    def by_channel(self, channel_id: str) -> Incident | None:
        number = self._redis.get(self._key("channel", channel_id))
        return self.get(int(cast(str, number))) if number else None

    def open_incidents(self) -> list[Incident]:
        numbers = cast(list[str], self._redis.zrange(self._key("incidents", "open"), 0, -1))
        return self._many(int(n) for n in numbers)

    def _many(self, numbers: Iterable[int]) -> list[Incident]:
        pipe = self._redis.pipeline()
        for number in numbers:
            pipe.hgetall(self._key("incident", number))
        return [incident for raw in pipe.execute() if (incident := _decode(raw))]


def _decode(raw: dict[str, str]) -> Incident | None:
    if not raw:
        return None
    return Incident.model_validate({k: json.loads(v) for k, v in raw.items()})


@dataclass(frozen=True)
class Snapshot:
    """Everything a walkthrough message is rendered from, read together."""

    version: int
    states: dict[str, StepState]
    messages: dict[str, str]
    playbooks: list[str]

    def state(self, field: str) -> StepState:
        return self.states.get(field, StepState())


@dataclass(frozen=True)
class Applied:
    outcome: str  # changed, unchanged, missing, closed, not_started or elsewhere (the last two with the incident)
    current: StepState
    snapshot: Snapshot
    incident: Incident | None


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class WalkthroughStore:
    """Step states (changed atomically), the messages that show them, and the playbooks started."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self._apply = client.register_script(_APPLY)
        self._append_once = client.register_script(_APPEND_ONCE)

    def _keys(self, number: int) -> list[str]:
        return [
            self._key("incident", number),
            self._key("incident", number, "steps"),
            self._key("incident", number, "steps", "version"),
            self._key("incident", number, "messages"),
            self._key("incident", number, "playbooks"),
            self._key("incident", number, "timeline"),
        ]

    def apply(
        self,
        number: int,
        scope: str,
        field: str,
        new: StepState,
        allowed_from: frozenset[StepStatus],
        entry: TimelineEntry,
        channel: str | None = None,
    ) -> Applied:
        """Moves one step, in one round trip; see _APPLY. With `channel`, only a click from the incident's own."""
        expected = json.dumps(channel) if channel else ""
        answer = self._apply(
            keys=self._keys(number),
            args=[field, new.model_dump_json(), scope, entry.model_dump_json(), expected, *sorted(allowed_from)],
        )
        if answer[0] in ("missing", "not_started"):
            return Applied(str(answer[0]), StepState(), Snapshot(0, {}, {}, []), None)
        if answer[0] in ("closed", "elsewhere"):
            return Applied(str(answer[0]), StepState(), Snapshot(0, {}, {}, []), _decode(_pairs(answer[1])))
        outcome, current, version, states, messages, playbooks, incident = answer
        snapshot = Snapshot(
            version=int(version),
            states={k: StepState.model_validate_json(v) for k, v in _pairs(states).items()},
            messages=_pairs(messages),
            playbooks=list(playbooks),
        )
        state = StepState.model_validate_json(current) if current else StepState()
        return Applied(str(outcome), state, snapshot, _decode(_pairs(incident)))

    def snapshot(self, number: int) -> Snapshot:
        keys = self._keys(number)
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(keys[2])
        pipe.hgetall(keys[1])
        pipe.hgetall(keys[3])
        pipe.zrange(keys[4], 0, -1)
        version, states, messages, playbooks = pipe.execute()
        return Snapshot(
            version=int(version or 0),
            states={k: StepState.model_validate_json(v) for k, v in states.items()},
            messages=messages,
            playbooks=playbooks,
        )

    def version(self, number: int) -> int:
        return int(cast(str, self._redis.get(self._key("incident", number, "steps", "version"))) or 0)

    def claim_message(self, number: int, name: str) -> bool:
        """True for the one caller that should post the message `name`; it then calls `set_message`."""
        return bool(self._redis.hsetnx(self._key("incident", number, "messages"), name, POSTING))

    def set_message(self, number: int, name: str, ts: str) -> None:
        self._redis.hset(self._key("incident", number, "messages"), name, ts)

    def start_playbook(self, number: int, key: str) -> bool:
        """Records `key` as started, after the others; False when it already was."""
        return bool(self._append_once(keys=[self._key("incident", number, "playbooks")], args=[key]))

    def save_result(self, number: int, field: str, result: StepResult) -> None:
        self._redis.hset(self._key("incident", number, "results"), field, result.model_dump_json())

    def results(self, number: int) -> dict[str, StepResult]:
        raw = cast(dict[str, str], self._redis.hgetall(self._key("incident", number, "results")))
        return {field: StepResult.model_validate_json(value) for field, value in raw.items()}

    def result(self, number: int, field: str) -> StepResult | None:
        raw = self._redis.hget(self._key("incident", number, "results"), field)
        return StepResult.model_validate_json(cast(str, raw)) if raw else None

    def remember_parameters(self, number: int, values: dict[str, str]) -> None:
        if values:
            self._redis.hset(
                self._key("incident", number, "parameters"), mapping={name: value for name, value in values.items()}
            )

    def parameters(self, number: int) -> dict[str, str]:
        return cast(dict[str, str], self._redis.hgetall(self._key("incident", number, "parameters")))


class TimelineStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)

    def append(self, number: int, entry: TimelineEntry) -> str:
        return str(self._redis.xadd(self._key("incident", number, "timeline"), {"entry": entry.model_dump_json()}))

    def entries(self, number: int) -> list[TimelineEntry]:
        raw = cast(list[tuple[str, dict[str, str]]], self._redis.xrange(self._key("incident", number, "timeline")))
        return [TimelineEntry.model_validate_json(fields["entry"]) for _, fields in raw]

    def delete(self, number: int, entry_id: str) -> None:
        self._redis.xdel(self._key("incident", number, "timeline"), entry_id)

    def capture(self, number: int, source: str) -> Capture:
        raw = self._redis.hget(self._key("incident", number, "captures"), source)
        return Capture.model_validate_json(cast(str, raw)) if raw else Capture()

    def save_capture(self, number: int, source: str, capture: Capture) -> None:
        key = self._key("incident", number, "captures")
        if capture.entry_id is None and not capture.marked:
            self._redis.hdel(key, source)
        else:
            self._redis.hset(key, source, capture.model_dump_json())

    def locked(self, number: int, source: str) -> AbstractContextManager[None]:
        """Serializes changes to one captured message (reaction and pin events can arrive together)."""
        return held(self._redis, self._key("lock", "capture", number, source))


class Capture(BaseModel):
    """Why a Slack message is on the timeline: pinned, or someone's :pushpin: reaction."""

    entry_id: str | None = None
    pinned: bool = False
    reactors: list[str] = []

    @property
    def marked(self) -> bool:
        return self.pinned or bool(self.reactors)


class ApprovalStore:
    """Kill-switch and destructive-step requests; every decision and execution claim is one Lua script."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self._decide = client.register_script(_DECIDE)
        self._expire = client.register_script(_EXPIRE)
        self._claim = client.register_script(_CLAIM_EXECUTION)

    def create(self, request: ApprovalRequest, approvers: set[str]) -> None:
        key = self._key("approval", request.id)
        pipe = self._redis.pipeline()
        pipe.hset(
            key,
            mapping={
                "request": request.model_dump_json(),
                "outcome": Outcome().model_dump_json(),
                "status": RequestStatus.PENDING.value,
                "requester": request.requester,
                "expires_at": str(request.expires_at.timestamp()),
            },
        )
        if approvers:
            pipe.sadd(self._key("approval", request.id, "approvers"), *sorted(approvers))
        pipe.execute()

    def get(self, approval_id: str) -> tuple[ApprovalRequest, Outcome] | None:
        raw = cast(dict[str, str], self._redis.hgetall(self._key("approval", approval_id)))
        if not raw:
            return None
        outcome = Outcome.model_validate_json(raw["outcome"])
        decided_at = float(raw["decided_at"]) if raw.get("decided_at") else None
        outcome = outcome.model_copy(
            update={
                "status": RequestStatus(raw["status"]),
                "decided_by": raw.get("decided_by") or None,
                "decided_at": datetime.fromtimestamp(decided_at, UTC) if decided_at else None,
            }
        )
        return ApprovalRequest.model_validate_json(raw["request"]), outcome

    def approvers(self, approval_id: str) -> set[str]:
        return cast(set[str], self._redis.smembers(self._key("approval", approval_id, "approvers")))

    def decide(self, approval_id: str, incident: int, actor: str, approve: bool, now: datetime) -> Refusal | None:
        answer = self._decide(
            keys=[
                self._key("approval", approval_id),
                self._key("approval", approval_id, "approvers"),
                self._key("incident", incident),
            ],
            args=[actor, now.timestamp(), "approved" if approve else "denied"],
        )
        return None if answer[0] == "ok" else _REFUSALS[answer[0]]

    def expire(self, approval_id: str, now: datetime) -> bool:
        return bool(self._expire(keys=[self._key("approval", approval_id)], args=[now.timestamp()]))

    def claim_execution(self, approval_id: str, now: datetime, lease_seconds: int) -> int:
        """The attempt number when this caller may execute; 0 when another did or does."""
        return int(self._claim(keys=[self._key("approval", approval_id)], args=[now.timestamp(), lease_seconds]))

    def release(self, approval_id: str) -> None:
        """Gives an execution claim back (its attempt failed unexpectedly), so the job's retry can claim it."""
        self._redis.hset(self._key("approval", approval_id), mapping={"status": "approved", "lease_until": 0})

    def finish(self, approval_id: str, status: RequestStatus, outcome: Outcome) -> None:
        self._redis.hset(
            self._key("approval", approval_id), mapping={"status": status.value, "outcome": outcome.model_dump_json()}
        )

    def record(self, approval_id: str, outcome: Outcome) -> None:
        """Stores outcome details (prior values, revert link) without touching the status."""
        self._redis.hset(self._key("approval", approval_id), "outcome", outcome.model_dump_json())

    def add_card(self, approval_id: str, channel: str, ts: str) -> None:
        self._redis.rpush(self._key("approval", approval_id, "cards"), f"{channel} {ts}")

    def cards(self, approval_id: str) -> list[tuple[str, str]]:
        raw = cast(list[str], self._redis.lrange(self._key("approval", approval_id, "cards"), 0, -1))
        return [cast(tuple[str, str], tuple(card.split(" ", 1))) for card in raw]


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
