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
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import redis

from bot.core.incident import Incident
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


# Moves a step to a new state only from one of the allowed statuses. Returns {1, new} or {0, current}.
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local status = 'pending'
if current then status = cjson.decode(current)['status'] end
for i = 3, #ARGV do
  if ARGV[i] == status then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('INCR', KEYS[2])
    return {1, ARGV[2]}
  end
end
return {0, current or ''}
"""

# Appends a member to an ordered set once: {1} when added (after the others), {0} when it was there.
_APPEND_ONCE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], redis.call('ZCARD', KEYS[1]), ARGV[1])
return 1
"""

POSTING = "posting"


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


class WalkthroughStore:
    """Step states (changed atomically), the messages that show them, and the playbooks started."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self._transition = client.register_script(_TRANSITION)
        self._append_once = client.register_script(_APPEND_ONCE)

    def transition(
        self, number: int, field: str, new: StepState, allowed_from: frozenset[StepStatus]
    ) -> tuple[bool, StepState]:
        """Sets the step to `new` if its status is one of `allowed_from`; else returns what it is."""
        changed, raw = self._transition(
            keys=[self._key("incident", number, "steps"), self._key("incident", number, "steps", "version")],
            args=[field, new.model_dump_json(), *sorted(allowed_from)],
        )
        return bool(changed), StepState.model_validate_json(raw) if raw else StepState()

    def states(self, number: int) -> tuple[int, dict[str, StepState]]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._key("incident", number, "steps", "version"))
        pipe.hgetall(self._key("incident", number, "steps"))
        version, raw = pipe.execute()
        return int(version or 0), {k: StepState.model_validate_json(v) for k, v in raw.items()}

    def version(self, number: int) -> int:
        return int(cast(str, self._redis.get(self._key("incident", number, "steps", "version"))) or 0)

    def claim_message(self, number: int, name: str) -> bool:
        """True for the one caller that should post the message `name`; it then calls `set_message`."""
        return bool(self._redis.hsetnx(self._key("incident", number, "messages"), name, POSTING))

    def set_message(self, number: int, name: str, ts: str) -> None:
        self._redis.hset(self._key("incident", number, "messages"), name, ts)

    def messages(self, number: int) -> dict[str, str]:
        return cast(dict[str, str], self._redis.hgetall(self._key("incident", number, "messages")))

    def start_playbook(self, number: int, key: str) -> bool:
        """Records `key` as started, after the others; False when it already was."""
        return bool(self._append_once(keys=[self._key("incident", number, "playbooks")], args=[key]))

    def playbooks(self, number: int) -> list[str]:
        return cast(list[str], self._redis.zrange(self._key("incident", number, "playbooks"), 0, -1))

    def save_result(self, number: int, field: str, result: StepResult) -> None:
        self._redis.hset(self._key("incident", number, "results"), field, result.model_dump_json())

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
        entries = [TimelineEntry.model_validate_json(fields["entry"]) for _, fields in raw]
        return sorted(entries, key=lambda entry: entry.at)
