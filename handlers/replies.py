"""How a listener answers the person who acted, and the one guard that keeps failures from being silent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from bot.adapters.slack_api import SlackCallFailed
from bot.services.errors import UserError

logger = logging.getLogger(__name__)

Notify = Callable[[str], None]


@contextmanager
def answering(notify: Notify) -> Iterator[None]:
    """Runs a use case after ack(); whatever goes wrong is told to the person, never a trace, never silence."""
    try:
        yield
    except UserError as error:
        notify(str(error))
    except redis.RedisError:
        logger.exception("redis unavailable")
        notify(":warning: The bot cannot reach its database right now, so nothing was changed. Try again shortly.")
    except SlackCallFailed as failure:
        logger.warning("slack call failed: %s", failure)
        notify(f":warning: Slack refused `{failure.method}` ({failure.error}); the request stopped there.")
    except Exception:
        reference = uuid.uuid4().hex[:8]
        logger.exception("unexpected failure, reference %s", reference)
        notify(f":warning: Something went wrong on our side (reference `{reference}`); the request stopped there.")
