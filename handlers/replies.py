"""How a listener answers the person who acted, and the one guard that keeps failures from being silent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import redis

from bot.adapters.slack_api import SlackCallFailed, respond
from bot.render.mrkdwn import channel
from bot.services.errors import UserError
from bot.services.incidents import Declared

if TYPE_CHECKING:
    from bot.app import Services

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


def declared_message(declared: Declared) -> str:
    incident = declared.incident
    where = channel(incident.channel_id) if incident.channel_id else incident.channel_name
    if declared.duplicate:
        return f"{incident.reference} was already declared from this request: {where}"
    return f":rotating_light: Declared {incident.reference} ({incident.severity.label}): join {where}"


def notifier(services: Services, user_id: str, metadata: dict[str, Any]) -> Notify:
    """Answers through the response_url the modal was opened from, or else in the person's DM with the bot."""
    response_url = metadata.get("response_url")

    def notify(text: str) -> None:
        if response_url:
            respond(response_url, text)
        else:
            services.slack.post(user_id, text)

    return notify
