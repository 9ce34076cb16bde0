"""Key names and the helpers every store shares. All keys live under the KEY_PREFIX namespace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

LOCK_SECONDS = 30
CONFLICT_RETRIES = 100  # a write tried again while others keep changing what it read; more than this is a fault


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])


@contextmanager
def held(client: redis.Redis, key: str) -> Iterator[None]:
    """A Redis lock held for the block (released after LOCK_SECONDS should its holder die)."""
    with client.lock(key, timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS):
        yield


def pairs(flat: list[str]) -> dict[str, str]:
    """A Lua HGETALL reply (a flat list) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))
