"""What stands between Slack's request and the listeners: replayed requests are refused, and no failure
turns into an HTTP 500 or a stack trace for the person."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import redis
from slack_bolt import BoltRequest, BoltResponse

from bot.adapters.slack_api import respond

logger = logging.getLogger(__name__)

REPLAY_WINDOW_SECONDS = 600  # twice the 5 minutes after which Bolt refuses a request as stale


def replay_guard(client: redis.Redis, prefix: str) -> Callable[..., BoltResponse | None]:
    """Refuses a signed request seen before (same timestamp and signature) with 401.

    Slack signs each retry anew, so a true retry passes; a captured request sent again does not. When Redis is
    unreachable the request goes on: its signature and age were checked, and the listener says what failed.
    """

    def middleware(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        if req.mode == "socket_mode":
            return next()
        stamp = _header(req, "x-slack-request-timestamp")
        signature = _header(req, "x-slack-signature")
        try:
            fresh = client.set(f"{prefix}:replay:{stamp}:{signature}", 1, nx=True, ex=REPLAY_WINDOW_SECONDS)
        except redis.RedisError:
            logger.warning("replay check skipped: Redis is unreachable")
            return next()
        if not fresh:
            logger.warning("refused a replayed request")
            return BoltResponse(status=401, body="")
        return next()

    return middleware


def _header(req: BoltRequest, name: str) -> str:
    values = req.headers.get(name) or []
    return values[0] if values else ""


def answer_failures(error: Exception, body: dict[str, Any], response: BoltResponse | None) -> BoltResponse | None:
    """The last resort for a failure inside a listener: logged with a reference, told to the person, never a 500."""
    reference = uuid.uuid4().hex[:8]
    logger.error("listener failed, reference %s: %s", reference, type(error).__name__, exc_info=error)
    text = f":warning: Something went wrong on our side (reference `{reference}`); the request stopped there."
    response_url = body.get("response_url") if isinstance(body, dict) else None
    if response_url:
        try:
            respond(str(response_url), text)
        except Exception:
            logger.warning("could not tell the person about reference %s", reference)
    if response is None:
        return None
    return BoltResponse(status=200, body="")
