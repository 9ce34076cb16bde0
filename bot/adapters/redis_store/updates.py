"""Coalesced message updates, across processes: a change marks a Slack message dirty; one sender at a time per
message (a Redis lock with a lease) takes the mark, renders what Redis holds and sends it, at most once per
interval, and goes on while marks keep coming. Twenty clicks on one phase give a couple of `chat.update` calls,
each with the latest state. A render equal to the one last sent is not sent again. A rate-limited send waits
Slack's `Retry-After` in the sender (shared through Redis, so no process sends to that message sooner), never in
a listener.

Fenced: the sender renews its lease as it takes the mark and sends only while it holds it; a delivery that
finishes after its lease was lost (so a newer one may have landed first) marks the message again and forgets
what it shows, so the latest state is sent once more and a message never stays on an older one. A mark whose
holder died is drained by the worker's sweep (`stale`), and code run `inline()` (a job) waits for another
holder rather than return without its update sent.

Keys: `updates:dirty:<message>` (a mark), `updates:marked` (the set of marked messages), `updates:sender:<message>`
(the sender's lock, with a lease), `updates:next:<message>` (when it may next be sent), `updates:shown:<message>`
(a digest of what was sent); each step on them is one Lua script.
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
from typing import Any, TypeVar, cast

import redis

from bot.adapters.redis_store.keys import Keys

logger = logging.getLogger(__name__)

SENDER_LEASE_MS = 30_000  # a sender that died lets go after this; the sweep or the next change sends its mark
KEEP_MS = 3_600_000  # how long the digest of what a message shows is kept
INLINE_POLL_SECONDS = 0.05
# KEYS: dirty, sender, next, shown, marked; ARGV[1] the message. Claim: the lock, if the message is marked;
# returns when it may be sent, or 'held' when another sender holds it.
_CLAIM = """
if redis.call('exists', KEYS[1]) == 0 then
  redis.call('srem', KEYS[5], ARGV[1])
  return false
end
if not redis.call('set', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 'held' end
return redis.call('get', KEYS[3]) or '0'
"""
# Take the mark and renew the lease, if the lock is still ours; returns the digest of what the message shows
# ('' for none), 'lost' when the lease went to another sender, or nil when there was no mark.
_TAKE = """
if redis.call('get', KEYS[2]) ~= ARGV[2] then return 'lost' end
redis.call('pexpire', KEYS[2], ARGV[3])
if redis.call('del', KEYS[1]) == 0 then return false end
redis.call('srem', KEYS[5], ARGV[1])
return 'shown:' .. (redis.call('get', KEYS[4]) or '')
"""
# Finish: if the lock is still ours, record what was sent and when the next may go; if it is not (the lease ran
# out during the delivery, so a newer one may have landed first), forget what the message shows and mark it
# again; mark it again too if it is still to send; let go of the lock (if ours). Returns whether it is marked.
_FINISH = """
local ours = redis.call('get', KEYS[2]) == ARGV[2]
if ours then
  if ARGV[3] ~= '' then redis.call('set', KEYS[4], ARGV[3], 'PX', ARGV[6]) end
  if ARGV[4] ~= '' then redis.call('set', KEYS[3], ARGV[4], 'PX', ARGV[6]) end
  redis.call('del', KEYS[2])
elseif ARGV[3] ~= '' then
  redis.call('del', KEYS[4])
  redis.call('set', KEYS[1], 1)
  redis.call('sadd', KEYS[5], ARGV[1])
end
if ARGV[5] == '1' then
  redis.call('set', KEYS[1], 1)
  redis.call('sadd', KEYS[5], ARGV[1])
end
return redis.call('exists', KEYS[1])
"""
# The marked messages that no sender holds (their holder died, or its process stopped with the mark left).
_STALE = """
local stale = {}
for _, message in ipairs(redis.call('smembers', KEYS[1])) do
  if redis.call('exists', ARGV[1] .. 'dirty:' .. message) == 0 then
    redis.call('srem', KEYS[1], message)
  elseif redis.call('exists', ARGV[1] .. 'sender:' .. message) == 0 then
    table.insert(stale, message)
  end
end
return stale
"""
_INLINE: ContextVar[bool] = ContextVar("inline_updates", default=False)
Payload = TypeVar("Payload")


class UpdateNotSent(Exception):
    """An inline update could not be sent in time (another sender held the message all along)."""


class CoalescedUpdates:
    def __init__(
        self, client: redis.Redis, prefix: str, interval: float, senders: Executor, lease_ms: int = SENDER_LEASE_MS
    ) -> None:
        """`senders` runs the sending off the caller's thread, so a listener never waits for Slack (a 429's
        Retry-After included); code run `inline()` sends on its own thread before it goes on."""
        self._redis = client
        self._key = Keys(prefix)
        self.interval = interval
        self.lease_ms = lease_ms
        self.senders = senders
        self._stopping = threading.Event()
        self._claim = client.register_script(_CLAIM)
        self._take = client.register_script(_TAKE)
        self._finish = client.register_script(_FINISH)
        self._stale = client.register_script(_STALE)

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
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._key("updates", "dirty", message), 1)
            pipe.sadd(self._key("updates", "marked"), message)
            pipe.execute()
        if _INLINE.get():
            self._drain(message, render, deliver, inline=True)
        else:
            self.senders.submit(self._drain, message, render, deliver, inline=False)

    def stale(self) -> list[str]:
        """Messages marked and held by no sender: what a dead holder left (the worker's sweep sends them)."""
        return cast(list[str], self._stale(keys=[self._key("updates", "marked")], args=[self._key("updates", "")]))

    def close(self) -> None:
        """Stops waiting senders (their marks stay for the next change, process or sweep) and waits for the rest."""
        self._stopping.set()
        self.senders.shutdown(wait=True)

    def _keys(self, message: str) -> list[str]:
        parts = ("dirty", "sender", "next", "shown")
        return [*(self._key("updates", part, message) for part in parts), self._key("updates", "marked")]

    def _drain(self, message: str, render: Callable[[], Any], deliver: Callable[[Any], None], *, inline: bool) -> None:
        """Sends while the message is marked: three round trips a send (claim, take, finish) and the render's.
        Inline, another sender's hold is waited out (its lease at most), never taken as done."""
        keys = self._keys(message)
        give_up = time.monotonic() + self.lease_ms / 1000 + self.interval + 5
        while True:
            token = uuid.uuid4().hex
            due = self._claim(keys=keys, args=[message, token, self.lease_ms])
            if due is None:
                return  # nothing marked (another sender sent it, after our change)
            if due == "held":
                if not inline:
                    return  # the holder looks for marks again before it lets go
                if time.monotonic() > give_up:
                    raise UpdateNotSent(f"{message} was held by another sender for longer than its lease")
                time.sleep(INLINE_POLL_SECONDS)
                continue
            sent = _Sent()
            try:
                sent = self._send_once(keys, message, token, float(due), render, deliver, inline)
            finally:
                marked = self._finish(
                    keys=keys, args=[message, token, sent.digest, sent.due, int(sent.remark), KEEP_MS]
                )
            if sent.error is not None and inline:
                raise sent.error
            if sent.stop or not marked:
                return

    def _send_once(
        self,
        keys: list[str],
        message: str,
        token: str,
        due: float,
        render: Callable[[], Any],
        deliver: Callable[[Any], None],
        inline: bool,
    ) -> _Sent:
        wait = due - time.time()  # the interval, or Slack's Retry-After
        if wait > 0:
            if inline:
                time.sleep(wait)
            elif self._stopping.wait(wait):
                return _Sent(stop=True)  # the process is stopping: the mark stays for the next change or process
        taken = self._take(keys=keys, args=[message, token, self.lease_ms])
        if taken is None or taken == "lost":
            return _Sent()  # another sender took the mark, or the lease, meanwhile
        shown = str(taken).removeprefix("shown:")
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
                logger.exception("a message update failed; the next change or the sweep sends it")
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
