"""The timeline in Redis: a stream of entries per incident, and the Slack messages captured into it.

Keys:
    incident:<n>:timeline      stream of timeline entries
    incident:<n>:captures      hash: captured Slack message → its entry id, whether pinned, who reacted :pushpin:
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import cast

import redis
from pydantic import BaseModel

from bot.adapters.redis_store.keys import Keys, held
from bot.core.timeline import TimelineEntry


class TimelineStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)

    def append(self, number: int, entry: TimelineEntry) -> str:
        return str(self._redis.xadd(self._key("incident", number, "timeline"), {"entry": entry.model_dump_json()}))

    def entries(self, number: int) -> list[TimelineEntry]:
        raw = cast(list[tuple[str, dict[str, str]]], self._redis.xrange(self._key("incident", number, "timeline")))
        return [TimelineEntry.model_validate_json(fields["entry"]) for _, fields in raw]

    def length(self, number: int) -> int:
        return int(self._redis.xlen(self._key("incident", number, "timeline")))

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
