"""The walkthrough in Redis: step states (changed atomically, one round trip per click), the messages that show
them, the playbooks started, step results and the parameters given.

Keys:
    incident:<n>:steps         hash: `<scope>/<step id>` → step state (JSON)
    incident:<n>:steps:version counter bumped by every step change (to re-render stale messages)
    incident:<n>:messages      read with the steps (its keeper is `messages.MessageStore`)
    incident:<n>:playbooks     sorted set of started playbook keys, in the order they started
    incident:<n>:results       hash: `<scope>/<step id>` → the step's last result (rows, total, query, time)
    incident:<n>:parameters    hash: parameter name → the value last given in this incident
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import redis

from bot.adapters.redis_store.incidents import _decode
from bot.adapters.redis_store.keys import Keys, pairs
from bot.core.incident import CLOSED_STATUSES, Incident
from bot.core.playbook import FIRST_FIVE
from bot.core.timeline import TimelineEntry
from bot.core.walkthrough import StepResult, StepState, StepStatus

# One click, one round trip: checks the incident is open and the playbook started, moves the step to its new
# state only from an allowed status (appending the timeline entry with it), and returns what the messages need.
_APPLY = """
local incident_status = redis.call('HGET', KEYS[1], 'status')
if not incident_status then return {'missing'} end
for closed in string.gmatch(ARGV[5], '[^,]+') do
  if incident_status == closed then return {'closed', redis.call('HGETALL', KEYS[1])} end
end
if ARGV[3] ~= ARGV[6] and not redis.call('ZSCORE', KEYS[5], ARGV[3]) then return {'not_started'} end
local current = redis.call('HGET', KEYS[2], ARGV[1])
local status = 'pending'
if current then status = cjson.decode(current)['status'] end
local changed = 'unchanged'
for i = 7, #ARGV do
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

# Appends a member to an ordered set once: 1 when added (after the others), 0 when it was there.
_APPEND_ONCE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], redis.call('ZCARD', KEYS[1]), ARGV[1])
return 1
"""
CLOSED = ",".join(json.dumps(status.value) for status in CLOSED_STATUSES)


@dataclass(frozen=True)
class Snapshot:
    """Everything a walkthrough message is rendered from, read together."""

    version: int
    states: dict[str, StepState]
    messages: dict[str, str]
    playbooks: list[str]

    def state(self, field: str) -> StepState:
        return self.states.get(field, StepState())


EMPTY = Snapshot(0, {}, {}, [])


@dataclass(frozen=True)
class Applied:
    outcome: str  # changed, unchanged, missing, closed or not_started
    current: StepState
    snapshot: Snapshot
    incident: Incident | None


class WalkthroughStore:
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
    ) -> Applied:
        """Moves one step, in one round trip; see _APPLY."""
        answer = self._apply(
            keys=self._keys(number),
            args=[
                field,
                new.model_dump_json(),
                scope,
                entry.model_dump_json(),
                CLOSED,
                FIRST_FIVE,
                *sorted(allowed_from),
            ],
        )
        if answer[0] in ("missing", "not_started"):
            return Applied(str(answer[0]), StepState(), EMPTY, None)
        if answer[0] == "closed":
            return Applied("closed", StepState(), EMPTY, _decode(pairs(answer[1])))
        outcome, current, version, states, messages, playbooks, incident = answer
        snapshot = Snapshot(
            version=int(version),
            states={k: StepState.model_validate_json(v) for k, v in pairs(states).items()},
            messages=pairs(messages),
            playbooks=list(playbooks),
        )
        state = StepState.model_validate_json(current) if current else StepState()
        return Applied(str(outcome), state, snapshot, _decode(pairs(incident)))

    def snapshot(self, number: int) -> Snapshot:
        return self._snapshot(self._snapshot_reads(number).execute())

    def read(self, number: int) -> tuple[Incident | None, Snapshot]:
        """The incident and its walkthrough's snapshot, in one round trip."""
        pipe = self._snapshot_reads(number)
        pipe.hgetall(self._keys(number)[0])
        *snapshot, incident = pipe.execute()
        return _decode(incident), self._snapshot(snapshot)

    def _snapshot_reads(self, number: int) -> redis.client.Pipeline:
        keys = self._keys(number)
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(keys[2])
        pipe.hgetall(keys[1])
        pipe.hgetall(keys[3])
        pipe.zrange(keys[4], 0, -1)
        return pipe

    @staticmethod
    def _snapshot(answers: list[Any]) -> Snapshot:
        version, states, messages, playbooks = answers
        return Snapshot(
            version=int(version or 0),
            states={k: StepState.model_validate_json(v) for k, v in states.items()},
            messages=messages,
            playbooks=playbooks,
        )

    def version(self, number: int) -> int:
        return int(cast(str, self._redis.get(self._key("incident", number, "steps", "version"))) or 0)

    def start_playbook(self, number: int, key: str) -> bool:
        """Records `key` as started, after the others; False when it already was."""
        return bool(self._append_once(keys=[self._key("incident", number, "playbooks")], args=[key]))

    def playbooks_of(self, numbers: list[int]) -> dict[int, list[str]]:
        """The playbooks started in each incident, in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for number in numbers:
            pipe.zrange(self._key("incident", number, "playbooks"), 0, -1)
        return dict(zip(numbers, pipe.execute(), strict=True))

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
            self._redis.hset(self._key("incident", number, "parameters"), mapping={k: v for k, v in values.items()})

    def parameters(self, number: int) -> dict[str, str]:
        return cast(dict[str, str], self._redis.hgetall(self._key("incident", number, "parameters")))
