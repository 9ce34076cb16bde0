"""The webhook deliveries already taken, per service (PagerDuty, GitHub, Jira): a replay changes nothing.

Keys:
    webhooks:<service>:<delivery id>   a delivery already taken, kept a day
"""

from __future__ import annotations

import redis

from bot.adapters.redis_store.keys import Keys

DELIVERY_SECONDS = 24 * 3600


class Deliveries:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._key = Keys(prefix)

    def first(self, service: str, delivery: str) -> bool:
        """True the first time a service's delivery is taken; False for a replay."""
        return bool(self._redis.set(self._key("webhooks", service, delivery), 1, nx=True, ex=DELIVERY_SECONDS))
