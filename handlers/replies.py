"""How a listener answers the person who acted, and the one guard that keeps failures from being silent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bot.presenters.reply import Reply
from bot.render.actions import StaleButton
from bot.render.mrkdwn import user
from bot.services.errors import UserError
from bot.services.ports import WorkspaceError

logger = logging.getLogger(__name__)
STALE_BUTTON = "That button is not one of mine any more; use the latest message."


@contextmanager
def answering(reply: Reply) -> Iterator[None]:
    """Runs a use case after ack(); whatever goes wrong is told to the person, never a trace, never silence."""
    try:
        yield
    except UserError as error:
        reply(error.sentence(user))
    except StaleButton:
        reply(STALE_BUTTON)
    except redis.RedisError:
        logger.exception("redis unavailable")
        reply(":warning: The bot cannot reach its database right now, so nothing was changed. Try again shortly.")
    except WorkspaceError as failure:
        logger.warning("slack call failed: %s", failure)
        reply(f":warning: Slack refused `{failure.method}` ({failure.error}); the request stopped there.")
    except Exception:
        reference = uuid.uuid4().hex[:8]
        logger.exception("unexpected failure, reference %s", reference)
        reply(f":warning: Something went wrong on our side (reference `{reference}`); the request stopped there.")
