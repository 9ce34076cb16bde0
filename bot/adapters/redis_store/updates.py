"""Coalesced message updates, across processes: a change marks a Slack message dirty; one sender at a time per
message (a Redis lock) takes the mark, renders what Redis holds and sends it, at most once per interval, and
goes on while marks keep coming. Twenty clicks on one phase give a couple of `chat.update` calls, each with
the latest state, and the message never goes back to an older one. A render equal to the one last sent is
not sent again. A rate-limited send waits Slack's `Retry-After` in the sender (shared through Redis, so no
process sends to that message sooner), never in a listener.

Keys: `updates:dirty:<message>` (a mark), `updates:sender:<message>` (the sender's lock, with a lease),
`updates:next:<message>` (when it may next be sent), `updates:shown:<message>` (a digest of what was sent);
each step on them is one Lua script.
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
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from bot.adapters.redis_store.keys import Keys

logger = logging.getLogger(__name__)

SENDER_LEASE_MS = 60_000  # a sender that died lets go after this; the next change starts a new one
KEEP_MS = 3_600_000  # how long the digest of what a message shows is kept
# KEYS: dirty, sender, next, shown. Claim: the lock, if the message is marked; returns when it may be sent.
_CLAIM = """
if redis.call('exists', KEYS[1]) == 0 then return false end
if not redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('get', KEYS[3]) or '0'
"""
# Take the mark; returns the digest of what the message shows ('' for none), or nil when there was no mark.
_TAKE = """
if redis.call('del', KEYS[1]) == 0 then return false end
return redis.call('get', KEYS[4]) or ''
"""
# Finish: record what was sent and when the next may go, mark it again if it is still to send, let go of the
# lock (if still ours); returns whether the message is marked (a change came meanwhile).
_FINISH = """
if ARGV[2] ~= '' then redis.call('set', KEYS[4], ARGV[2], 'PX', ARGV[5]) end
if ARGV[3] ~= '' then redis.call('set', KEYS[3], ARGV[3], 'PX', ARGV[5]) end
if ARGV[4] == '1' then redis.call('set', KEYS[1], 1) end
if redis.call('get', KEYS[2]) == ARGV[1] then redis.call('del', KEYS[2]) end
return redis.call('exists', KEYS[1])
"""
_INLINE: ContextVar[bool] = ContextVar("inline_updates", default=False)
Payload = TypeVar("Payload")


class CoalescedUpdates:
    def __init__(self, client: redis.Redis, prefix: str, interval: float, senders: Executor) -> None:
        """`senders` runs the sending off the caller's thread, so a listener never waits for Slack (a 429's
        Retry-After included); code run `inline()` sends on its own thread before it goes on."""
        self._redis = client
        self._key = Keys(prefix)
        self.interval = interval
        self.senders = senders
        self._stopping = threading.Event()
        self._claim = client.register_script(_CLAIM)
        self._take = client.register_script(_TAKE)
        self._finish = client.register_script(_FINISH)

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
        if _INLINE.get():
            self._drain(message, render, deliver, inline=True)
        else:
            self.senders.submit(self._drain, message, render, deliver, inline=False)

    def close(self) -> None:
        """Stops waiting senders (their marks stay for the next change or process) and waits for the rest."""
        self._stopping.set()
        self.senders.shutdown(wait=True)

    def _drain(self, message: str, render: Callable[[], Any], deliver: Callable[[Any], None], *, inline: bool) -> None:
        """Sends while the message is marked: three round trips a send (claim, take, finish) and the render's."""
        keys = [self._key("updates", part, message) for part in ("dirty", "sender", "next", "shown")]
        while True:
            token = uuid.uuid4().hex
            due = self._claim(keys=keys, args=[token, SENDER_LEASE_MS])
            if due is None:
                return  # nothing marked, or another sender holds it and looks for marks again before it lets go
            sent = _Sent()
            try:
                sent = self._send_once(keys, float(due), render, deliver, inline)
            finally:
                marked = self._finish(keys=keys, args=[token, sent.digest, sent.due, int(sent.remark), KEEP_MS])
            if sent.error is not None and inline:
                raise sent.error
            if sent.stop or not marked:
                return

    def _send_once(
        self, keys: list[str], due: float, render: Callable[[], Any], deliver: Callable[[Any], None], inline: bool
    ) -> _Sent:
        wait = due - time.time()  # the interval, or Slack's Retry-After
        if wait > 0:
            if inline:
                time.sleep(wait)
            elif self._stopping.wait(wait):
                return _Sent(stop=True)  # the process is stopping: the mark stays for the next change or process
        shown = self._take(keys=keys)
        if shown is None:
            return _Sent()  # another sender took the mark meanwhile
        payload = render()  # after the mark is taken: a change committed before it is in what is read
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        if payload is None or shown == digest:
            return _Sent()
        try:
            deliver(payload)
        except Exception as error:
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:  # throttled: nobody sends to it before Slack allows
                return _Sent(due=str(time.time() + retry_after), remark=True, error=error if inline else None)
            if not inline:
                logger.exception("a message update failed; the next change sends it")
            return _Sent(remark=True, stop=True, error=error)
        return _Sent(digest=digest, due=str(time.time() + self.interval))


@dataclass(frozen=True)
class _Sent:
    """What one pass leaves in Redis: what the message now shows, when it may next be sent, whether it is still
    to send; and whether the sender stops (the process stopping, a failure)."""

    digest: str = ""
    due: str = ""
    remark: bool = False
    stop: bool = False
    error: Exception | None = None
