"""The web view's state in Redis: sign-ins under way (state, nonce, where to return), sessions, and who is in a
private incident's channel (asked of Slack at most once a minute).

Keys (each named by an HMAC of the secret value under WEB_SESSION_SECRET, so a copy of Redis holds no usable
cookie or state):
    web:signin:<hmac of state>     the nonce and return path of a sign-in under way (10 minutes, taken once)
    web:session:<hmac of id>       the signed-in person (expires with the session)
    web:members:<channel>          a channel's members, cached for a minute
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, cast

import redis

from bot.adapters.redis_store.keys import Keys


class WebStore:
    def __init__(self, client: redis.Redis, prefix: str, secret: bytes) -> None:
        self._redis = client
        self._key = Keys(prefix)
        self._secret = secret

    def _name(self, kind: str, value: str) -> str:
        return self._key("web", kind, hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest())

    def begin_sign_in(self, state: str, record: dict[str, str], seconds: int) -> None:
        self._redis.set(self._name("signin", state), json.dumps(record), ex=seconds)

    def take_sign_in(self, state: str) -> dict[str, str] | None:
        """The sign-in `state` began, once: a second take (a replayed callback) finds nothing."""
        raw = cast(str | None, self._redis.getdel(self._name("signin", state)))
        return cast(dict[str, str], json.loads(raw)) if raw else None

    def open_session(self, session_id: str, record: dict[str, Any], seconds: int) -> None:
        self._redis.set(self._name("session", session_id), json.dumps(record), ex=seconds)

    def session(self, session_id: str) -> dict[str, Any] | None:
        raw = cast(str | None, self._redis.get(self._name("session", session_id)))
        return cast(dict[str, Any], json.loads(raw)) if raw else None

    def close_session(self, session_id: str) -> None:
        self._redis.delete(self._name("session", session_id))

    def cached_members(self, channel: str) -> set[str] | None:
        raw = cast(str | None, self._redis.get(self._key("web", "members", channel)))
        return set(json.loads(raw)) if raw is not None else None

    def cache_members(self, channel: str, members: set[str], seconds: int) -> None:
        self._redis.set(self._key("web", "members", channel), json.dumps(sorted(members)), ex=seconds)
