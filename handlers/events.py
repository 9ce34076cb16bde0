"""Events API listeners: the App Home tab, and the messages people mark for the timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App

from bot.services.timeline import PUSHPIN

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            services.present.incidents.home(event["user"], services.incidents.open_incidents(event["user"]))

    timeline = services.timeline

    def on_reaction(event: dict[str, Any], added: bool) -> None:
        item = event.get("item") or {}
        if event.get("reaction") == PUSHPIN and item.get("type") == "message":
            timeline.mark(item["channel"], item["ts"], event["user"], pin=False, added=added)

    @app.event("reaction_added")
    def reaction_added(event: dict[str, Any]) -> None:
        on_reaction(event, True)

    @app.event("reaction_removed")
    def reaction_removed(event: dict[str, Any]) -> None:
        on_reaction(event, False)

    def on_pin(event: dict[str, Any], context: dict[str, Any], added: bool) -> None:
        item = event.get("item") or {}
        message = item.get("message") or {}
        if item.get("type") == "message" and message.get("ts") and event.get("user") != context.get("bot_user_id"):
            timeline.mark(event["channel_id"], message["ts"], event["user"], pin=True, added=added)

    @app.event("pin_added")
    def pin_added(event: dict[str, Any], context: dict[str, Any]) -> None:
        on_pin(event, context, True)

    @app.event("pin_removed")
    def pin_removed(event: dict[str, Any], context: dict[str, Any]) -> None:
        on_pin(event, context, False)

    @app.event({"type": "message", "subtype": "message_changed"})
    def message_changed(event: dict[str, Any]) -> None:
        message = event.get("message") or {}
        if message.get("ts"):
            timeline.edited(event["channel"], message["ts"], str(message.get("text", "")))

    @app.event({"type": "message", "subtype": "message_deleted"})
    def message_deleted(event: dict[str, Any]) -> None:
        deleted = event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
        if deleted:
            timeline.deleted(event["channel"], deleted)

    @app.event("message")
    def other_messages() -> None:
        """Plain messages are captured only when someone pins them or reacts :pushpin:."""
