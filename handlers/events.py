"""Events API listeners: the App Home tab."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App

from bot.render.home import home_view

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        incidents = services.incidents
        services.slack.publish_home(event["user"], home_view(incidents.open_incidents(), incidents.clock.now()))
