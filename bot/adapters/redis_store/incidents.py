"""Incidents in Redis: their fields, numbering, the open index, the channel index, and action items.

Keys:
    incident:seq               the last incident number
    incident:<n>               hash of the incident's fields, each a JSON value
    incidents:open             sorted set of open incident numbers
    channel:<id>               incident number of an incident channel
    dedupe:<key>               incident number a delivery (command, submission) already declared
    incident:<n>:actions       list of action items (JSON)
    incident:<n>:answered:<q>  who answered the bot's question q (a severity suggestion), once
    replay:<ts>:<signature>    a signed request already taken (a replay of it is refused)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, cast

import redis

from bot.adapters.redis_store.events import EventOutbox
from bot.adapters.redis_store.keys import CONFLICT_RETRIES, Keys, held
from bot.core.events import ActionItemAdded, Event
from bot.core.incident import Incident
from bot.core.postmortem import ActionItem

DEDUPE_TTL_SECONDS = 24 * 3600

# Returns {1, n} when this call allocated incident number n for the key, {0, n} when n was already allocated.
_CLAIM = """
local existing = redis.call('GET', KEYS[1])
if existing then return {0, tonumber(existing)} end
local number = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], number, 'EX', ARGV[1])
return {1, number}
"""


class IncidentStore:
    def __init__(self, client: redis.Redis, prefix: str, outbox: EventOutbox) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self._outbox = outbox
        self._claim = client.register_script(_CLAIM)

    def claim_number(self, dedupe_key: str) -> tuple[bool, int]:
        """Allocates the next incident number for a delivery, once: a repeat gets the same number back."""
        created, number = self._claim(
            keys=[self._key("dedupe", dedupe_key), self._key("incident", "seq")], args=[DEDUPE_TTL_SECONDS]
        )
        return bool(created), int(number)

    def first_delivery(self, delivery: str, seconds: int, about: int | None) -> tuple[bool, Incident | None]:
        """Records a signed request as taken (True the first time it is seen, for `seconds`) and, in the same round
        trip, reads the incident it is about, when it names one (a click)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(self._key("replay", delivery), 1, nx=True, ex=seconds)
        if about is not None:
            pipe.hgetall(self._key("incident", about))
        answers = pipe.execute()
        return bool(answers[0]), (_decode(answers[1]) if about is not None else None)

    def save(self, incident: Incident) -> None:
        fields = incident.model_dump(mode="json")
        pipe = self._redis.pipeline()
        pipe.hset(self._key("incident", incident.number), mapping={k: json.dumps(v) for k, v in fields.items()})
        self._index(pipe, incident)
        pipe.execute()

    def update(self, incident: Incident, *, events: Iterable[Event] = (), **changes: Any) -> Incident:
        """Applies `changes` (validated by the model) and writes only those fields, with the `events` that tell the
        subscribers, in one MULTI."""
        updated = incident.model_validate({**incident.model_dump(), **changes})
        dumped = updated.model_dump(mode="json")
        pipe = self._redis.pipeline()
        pipe.hset(self._key("incident", incident.number), mapping={k: json.dumps(dumped[k]) for k in changes})
        self._index(pipe, updated)
        self._outbox.add(pipe, *events)
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

    def answer_once(self, number: int, question: str, actor: str) -> str | None:
        """Records `actor` as the one who answered `question`; None when they are, else who answered first."""
        key = self._key("incident", number, "answered", question)
        if self._redis.set(key, actor, nx=True):
            return None
        return str(self._redis.get(key) or "")

    def add_action(self, number: int, item: ActionItem, at: datetime, actor: str) -> int:
        """Adds an action item, and the event that tells the subscribers, in one MULTI; returns its place."""
        key = self._key("incident", number, "actions")
        for _ in range(CONFLICT_RETRIES):
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    place = int(pipe.llen(key))
                    pipe.multi()
                    pipe.rpush(key, item.model_dump_json())
                    self._outbox.add(pipe, ActionItemAdded(incident=number, at=at, actor=actor, item=place))
                    pipe.execute()
                    return place
                except redis.WatchError:
                    continue
        raise RuntimeError(f"could not add an action item to incident {number}: its list kept changing")

    def actions(self, number: int) -> list[ActionItem]:
        raw = cast(list[str], self._redis.lrange(self._key("incident", number, "actions"), 0, -1))
        return [ActionItem.model_validate_json(item) for item in raw]

    def by_channel(self, channel_id: str) -> Incident | None:
        number = self._redis.get(self._key("channel", channel_id))
        return self.get(int(cast(str, number))) if number else None

    def open_incidents(self) -> list[Incident]:
        numbers = cast(list[str], self._redis.zrange(self._key("incidents", "open"), 0, -1))
        return self._many(int(n) for n in numbers)

    def last_number(self) -> int:
        """The number of the last incident declared (0 before the first)."""
        return int(cast(str, self._redis.get(self._key("incident", "seq"))) or 0)

    def recent(self, limit: int) -> list[Incident]:
        """The last `limit` incidents declared, newest first."""
        last = self.last_number()
        return self._many(range(last, max(0, last - limit), -1))

    def _many(self, numbers: Iterable[int]) -> list[Incident]:
        pipe = self._redis.pipeline()
        for number in numbers:
            pipe.hgetall(self._key("incident", number))
        return [incident for raw in pipe.execute() if (incident := _decode(raw))]


def _decode(raw: dict[str, str]) -> Incident | None:
    if not raw:
        return None
    return Incident.model_validate({k: json.loads(v) for k, v in raw.items()})
