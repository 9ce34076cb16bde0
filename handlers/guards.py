"""What stands between Slack's request and the listeners: replayed requests are refused, every click is checked
the same way (its value decodes, its incident exists, and it comes from that incident's channel, or for an
approval from one of the request's own cards), and no failure turns into an HTTP 500 or a stack trace."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from slack_bolt import BoltRequest, BoltResponse

from bot.adapters.slack_api import respond
from bot.core.incident import Incident
from bot.render.actions import ActionId, Ref, RequestRef, action_of, decode
from bot.services.errors import UserError

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)

REPLAY_WINDOW_SECONDS = 600  # twice the 5 minutes after which Bolt refuses a request as stale
READ_WITH_REPLAY_CHECK = "incident_read_with_replay_check"  # a click's context: the incident it names, or None


def replay_guard(services: Services) -> Callable[..., BoltResponse | None]:
    """Refuses a signed request seen before (same timestamp and signature) with 401; for a click, reads the incident
    it is about in the same round trip, for the click's guard (`clicked`).

    Slack signs each retry anew, so a true retry passes; a captured request sent again does not. When Redis is
    unreachable the request goes on: its signature and age were checked, and the listener says what failed.
    """

    def middleware(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        if req.mode == "socket_mode":
            return next()
        delivery = f"{_header(req, 'x-slack-request-timestamp')}:{_header(req, 'x-slack-signature')}"
        about = _clicked_incident(req.body)
        try:
            fresh, incident = services.incidents.first_delivery(delivery, REPLAY_WINDOW_SECONDS, about)
        except redis.RedisError:
            logger.warning("replay check skipped: Redis is unreachable")
            return next()
        if not fresh:
            logger.warning("refused a replayed request")
            return BoltResponse(status=401, body="")
        if about is not None:
            req.context[READ_WITH_REPLAY_CHECK] = incident
        return next()

    return middleware


def _clicked_incident(body: dict[str, Any]) -> int | None:
    """The incident a click's value names; None for anything else, or a value that does not decode (the guard
    refuses it later)."""
    if body.get("type") != "block_actions" or not body.get("actions"):
        return None
    try:
        return _value(body["actions"][0])[1].incident
    except (KeyError, TypeError, ValueError):  # StaleButton is a ValueError
        return None


def _value(element: dict[str, Any]) -> tuple[ActionId, Ref]:
    action = action_of(str(element.get("action_id") or ""))
    raw = str((element.get("selected_option") or {}).get("value") or element.get("value") or "")
    return action, decode(action, raw, Ref)


def _header(req: BoltRequest, name: str) -> str:
    values = req.headers.get(name) or []
    return values[0] if values else ""


def answer_failures(error: Exception, body: dict[str, Any], response: BoltResponse | None) -> BoltResponse | None:
    """The last resort for a failure inside a listener: logged with a reference, told to the person, never a 500."""
    reference = uuid.uuid4().hex[:8]
    logger.error("listener failed, reference %s: %s", reference, type(error).__name__, exc_info=error)
    text = f":warning: Something went wrong on our side (reference `{reference}`); the request stopped there."
    response_url = body.get("response_url")
    if response_url:
        try:
            respond(str(response_url), text)
        except Exception:
            logger.warning("could not tell the person about reference %s", reference)
    if response is None:
        return None
    return BoltResponse(status=200)


@dataclass(frozen=True)
class Click:
    """A click that passed the guard: what it names, on which incident, by whom, from where."""

    action: ActionId
    value: Ref
    incident: Incident
    actor: str
    channel: str
    message_ts: str
    message_text: str  # the clicked message's text, as Slack sent it with the click
    trigger_id: str
    response_url: str


def clicked(services: Services, body: dict[str, Any], context: dict[str, Any]) -> Click:
    """The one check every button and menu goes through (StaleButton or UserError when it fails). The incident is
    the one read with the replay check, when that read the incident this value names."""
    action, value = _value(body["actions"][0])
    if READ_WITH_REPLAY_CHECK in context:  # the same value, decoded there
        incident = services.incidents.refuse_missing(value.incident, context[READ_WITH_REPLAY_CHECK])
    else:
        incident = services.incidents.get(value.incident)
    channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
    message_ts = str((body.get("container") or {}).get("message_ts") or "")
    if isinstance(value, RequestRef):
        request, _ = services.approvals.get(value.request)
        if request.incident != incident.number or (channel, message_ts) not in services.approvals.cards(value.request):
            raise UserError(f"That button is not on one of {incident.reference}'s request cards.")
    elif channel != incident.channel_id:
        raise UserError(f"That button belongs to {incident.reference}'s channel.")
    return Click(
        action=action,
        value=value,
        incident=incident,
        actor=str(body["user"]["id"]),
        channel=channel,
        message_ts=message_ts,
        message_text=str((body.get("message") or {}).get("text") or ""),
        trigger_id=str(body.get("trigger_id") or ""),
        response_url=str(body.get("response_url") or ""),
    )
