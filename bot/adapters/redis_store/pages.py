"""What each pager was told of each incident.

Keys:
    incident:<n>:page:<pager>          hash: triggered_at, acknowledged_at, resolved_at (ISO), why
    incident:<n>:page:<pager>:said     set: the refusals already said in the channel (once each)
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import redis

from bot.adapters.redis_store.keys import Keys
from bot.core.paging import PageAction, PageState

FIELDS = {
    PageAction.TRIGGER: "triggered_at",
    PageAction.ACKNOWLEDGE: "acknowledged_at",
    PageAction.RESOLVE: "resolved_at",
}


class PageStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)

    def state(self, number: int, pager: str) -> PageState:
        raw = cast(dict[str, str], self._redis.hgetall(self._key("incident", number, "page", pager)))
        return PageState(**{name: datetime.fromisoformat(raw[name]) for name in FIELDS.values() if raw.get(name)})

    def mark(self, number: int, pager: str, action: PageAction, at: datetime) -> None:
        field = FIELDS.get(action)
        if field is not None:
            self._redis.hset(self._key("incident", number, "page", pager), field, at.isoformat())

    def say_once(self, number: int, pager: str, what: str) -> bool:
        """True the first time `what` is to be said of this incident and pager."""
        return bool(self._redis.sadd(self._key("incident", number, "page", pager, "said"), what))
