"""Thin Bolt listeners: parse the payload, ack() at once, call one service, render the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.app import Services


def register_all(app: App, services: Services) -> None:
    from handlers import actions, commands, events, views

    commands.register(app, services)  # first: Bolt tries listeners in order, and /incident is the busiest
    actions.register(app, services)
    views.register(app, services)
    events.register(app, services)
