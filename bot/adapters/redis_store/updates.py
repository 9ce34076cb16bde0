"""Coalesced message updates, across processes: a change marks a Slack message dirty; one sender at a time per
message (a Redis lock) takes the mark, renders what Redis holds and sends it, at most once per interval, and
goes on while marks keep coming. Twenty clicks on one phase give a couple of `chat.update` calls, each with
the latest state, and the message never goes back to an older one. A render equal to the one last sent is
not sent again. A rate-limited send waits Slack's `Retry-After` in the sender (shared through Redis, so no
process sends to that message sooner), never in a listener.

Keys: `updates:dirty:<message>` (a mark), `updates:sender:<message>` (the sender's lock, with a lease),
`updates:next:<message>` (when it may next be sent), `updates:shown:<message>` (a digest of what was sent).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import redis

from bot.adapters.redis_store.keys import Keys

logger = logging.getLogger(__name__)

SENDER_LEASE_MS = 60_000  # a sender that died lets go after this; the next change starts a new one
KEEP_MS = 3_600_000  # how long the digest of what a message shows is kept
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_INLINE: ContextVar[bool] = ContextVar("inline_updates", default=False)
Payload = TypeVar("Payload")


class CoalescedUpdates:
    def __init__(self, client: redis.Redis, prefix: str, interval: float, senders: Executor | None) -> None:
        """`senders` runs the sending off the caller's thread, so a listener never waits for Slack (a 429's
        Retry-After included); None, or code run `inline()`, sends on the caller's thread before it goes on."""
        self._redis = client
        self._key = Keys(prefix)
        self.interval = interval
        self.senders = senders
        self._stopping = threading.Event()
        self._release = client.register_script(_RELEASE)

    @staticmethod
    @contextmanager
    def inline() -> Iterator[None]:
        """Sends on this thread for the block: a job sends its updates before it ends, and a failure (Slack
        throttling included) fails the job, which runs again."""
        token = _INLINE.set(True)
        try:
            yield
        finally:
            _INLINE.reset(token)

    def request(self, message: str, render: Callable[[], Payload | None], deliver: Callable[[Payload], None]) -> None:
        """Marks `message` changed. `render` builds what it should show from what Redis holds now (None: nothing
        to show), `deliver` sends it; both may run later, once for many requests, in another thread."""
        self._redis.set(self._key("updates", "dirty", message), 1)
        if self.senders is None or _INLINE.get():
            self._drain(message, render, deliver, inline=True)
        else:
            self.senders.submit(self._drain, message, render, deliver, inline=False)

    def close(self) -> None:
        """Stops waiting senders (their marks stay for the next change or process) and waits for the rest."""
        self._stopping.set()
        if self.senders is not None:
            self.senders.shutdown(wait=True)

    def _drain(self, message: str, render: Callable[[], Any], deliver: Callable[[Any], None], *, inline: bool) -> None:
        dirty, lock = self._key("updates", "dirty", message), self._key("updates", "sender", message)
        due, shown = self._key("updates", "next", message), self._key("updates", "shown", message)
        while self._redis.exists(dirty):
            token = uuid.uuid4().hex
            if not self._redis.set(lock, token, nx=True, px=SENDER_LEASE_MS):
                return  # another sender holds it, and looks for marks again before it lets go
            try:
                wait = float(self._redis.get(due) or 0) - time.time()  # the interval, or Slack's Retry-After
                if wait > 0:
                    if inline:
                        time.sleep(wait)
                    elif self._stopping.wait(wait):
                        return  # the process is stopping: the mark stays for the next change or process
                if not self._redis.delete(dirty):
                    continue
                payload = render()  # after the mark is taken: a change committed before it is in what is read
                digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
                if payload is None or self._redis.get(shown) == digest:
                    continue
                try:
                    deliver(payload)
                except Exception as error:
                    self._redis.set(dirty, 1)  # still to send
                    retry_after = getattr(error, "retry_after", None)
                    if retry_after is not None:  # throttled: nobody sends to it before Slack allows
                        self._redis.set(due, time.time() + retry_after, px=int((retry_after + 60) * 1000))
                        if not inline:
                            continue
                    if inline:
                        raise
                    logger.exception("a message update failed; the next change sends it")
                    return
                self._redis.set(shown, digest, px=KEEP_MS)
                self._redis.set(due, time.time() + self.interval, px=int((self.interval + 60) * 1000))
            finally:
                self._release(keys=[lock], args=[token])
