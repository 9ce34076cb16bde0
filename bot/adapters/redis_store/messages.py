"""Where the Slack presenters' messages are, per incident: their own state, not the incident's.

Keys:
    incident:<n>:messages  hash: message name (`header`, `first-five`, `picker`, `<playbook>/<phase>`, the
                           post-mortem draft's canvas or file) → its ts or id; `posting` while one is claimed
"""

from __future__ import annotations

from typing import cast

import redis

from bot.adapters.redis_store.keys import Keys

POSTING = "posting"  # a message being posted: claimed, its ts not known yet
CANVAS = "postmortem-canvas"  # the post-mortem draft in the channel canvas (its id)
FILE = "postmortem-file"  # or, where canvases are refused, as a file (its id)


class MessageStore:
    """Which Slack message shows what, per incident: the presenters' own state (a name → its ts)."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)

    def claim(self, number: int, name: str) -> bool:
        """True for the one caller that should post the message `name`; it then calls `set`."""
        return bool(self._redis.hsetnx(self._key("incident", number, "messages"), name, POSTING))

    def set(self, number: int, name: str, ts: str) -> None:
        self._redis.hset(self._key("incident", number, "messages"), name, ts)

    def get(self, number: int, name: str) -> str | None:
        ts = cast(str | None, self._redis.hget(self._key("incident", number, "messages"), name))
        return None if ts in (None, POSTING) else ts

    def all(self, number: int) -> dict[str, str]:
        return cast(dict[str, str], self._redis.hgetall(self._key("incident", number, "messages")))

    def postmortem(self, number: int) -> str | None:
        """Where the incident's post-mortem draft is: "canvas", "file", or None before one is written."""
        names = self.all(number)
        return "canvas" if CANVAS in names else "file" if FILE in names else None
