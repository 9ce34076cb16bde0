"""Each action item's issue in each tracker, the incidents whose items are exported, and what a tracker refused.

Keys:
    incident:<n>:tracked:<tracker>           hash: item place -> the item's issue (Tracked, JSON)
    incident:<n>:tracked:<tracker>:refused   hash: item place -> why the tracker refused it (until it takes it)
    incident:<n>:tracked:<tracker>:said      set: the refusals already said in the channel (once each)
    incident:<n>:tracked:<tracker>:creating  hash: item place -> when a create was sent whose issue is not known yet
    tracked:<tracker>:<issue>                "<n>:<place>": the item an issue is (a webhook names the issue)
    tracking                                 set: the incidents whose items are exported (new items follow)
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import redis

from bot.adapters.redis_store.keys import Keys
from bot.core.tracking import Tracked


class TrackedStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)

    def issues(self, number: int, trackers: tuple[str, ...]) -> dict[int, list[Tracked]]:
        """Every exported item of an incident: place -> its issues, in the order of `trackers`."""
        found: dict[int, list[Tracked]] = {}
        with self._redis.pipeline(transaction=False) as pipe:
            for tracker in trackers:
                pipe.hgetall(self._key("incident", number, "tracked", tracker))
            answers = cast(list[dict[str, str]], pipe.execute())
        for answer in answers:
            for place, raw in sorted(answer.items(), key=lambda pair: int(pair[0])):
                found.setdefault(int(place), []).append(Tracked.model_validate_json(raw))
        return found

    def get(self, number: int, tracker: str, place: int) -> Tracked | None:
        raw = self._redis.hget(self._key("incident", number, "tracked", tracker), str(place))
        return Tracked.model_validate_json(cast(str, raw)) if raw else None

    def save(self, number: int, place: int, tracked: Tracked) -> None:
        """The item's issue, its place in the index, and no refusal left, together."""
        with self._redis.pipeline() as pipe:
            pipe.hset(self._key("incident", number, "tracked", tracked.tracker), str(place), tracked.model_dump_json())
            pipe.set(self._key("tracked", tracked.tracker, tracked.issue), f"{number}:{place}")
            pipe.hdel(self._key("incident", number, "tracked", tracked.tracker, "refused"), str(place))
            pipe.hdel(self._key("incident", number, "tracked", tracked.tracker, "creating"), str(place))
            pipe.execute()

    def creating(self, number: int, tracker: str, place: int, at: datetime) -> None:
        """A create is about to be sent: if its answer is lost, the next try knows one may exist."""
        self._redis.hset(self._key("incident", number, "tracked", tracker, "creating"), str(place), at.isoformat())

    def creating_since(self, number: int, tracker: str, place: int) -> datetime | None:
        raw = self._redis.hget(self._key("incident", number, "tracked", tracker, "creating"), str(place))
        return datetime.fromisoformat(cast(str, raw)) if raw else None

    def item_of(self, tracker: str, issue: str) -> tuple[int, int] | None:
        """The incident and item an issue is, when it is one of ours."""
        raw = self._redis.get(self._key("tracked", tracker, issue))
        if not raw:
            return None
        number, _, place = cast(str, raw).partition(":")
        return int(number), int(place)

    def refused(self, number: int, tracker: str, place: int, why: str) -> None:
        self._redis.hset(self._key("incident", number, "tracked", tracker, "refused"), str(place), why)

    def refusals(self, number: int, tracker: str) -> dict[int, str]:
        raw = cast(dict[str, str], self._redis.hgetall(self._key("incident", number, "tracked", tracker, "refused")))
        return {int(place): why for place, why in raw.items()}

    def say_once(self, number: int, tracker: str, what: str) -> bool:
        """True the first time `what` is to be said of this incident and tracker."""
        return bool(self._redis.sadd(self._key("incident", number, "tracked", tracker, "said"), what))

    def follow(self, number: int) -> None:
        """From now on the incident's items are exported, those added later included."""
        self._redis.sadd(self._key("tracking"), number)

    def following(self, number: int) -> bool:
        return bool(self._redis.sismember(self._key("tracking"), str(number)))

    def followed(self) -> list[int]:
        return sorted(int(n) for n in cast(set[str], self._redis.smembers(self._key("tracking"))))
