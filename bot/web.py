"""The HTTP entry point: Bolt's Flask adapter at /slack/events, and a health check.

Served by gunicorn (`bot/gunicorn_config.py`): the Procfile's `web:` and `incident-bot run` start the same.
"""

from __future__ import annotations

from flask import Flask, Response, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler

from bot.app import Services, create_app
from bot.config import process_settings

EVENTS_PATH = "/slack/events"
SERVICES = "incident_bot_services"


def wsgi_app(app: App, services: Services) -> Flask:
    flask_app = Flask("incident-bot")
    flask_app.extensions[SERVICES] = services
    handler = SlackRequestHandler(app)

    @flask_app.post(EVENTS_PATH)
    def slack_events() -> Response:
        return handler.handle(request)

    @flask_app.get("/healthz")
    def health() -> tuple[str, int]:
        try:
            services.redis.data.ping()
        except Exception:
            return "redis unreachable", 503
        return "ok", 200

    return flask_app


def create_wsgi_app() -> Flask:
    """The app gunicorn serves; each worker builds its own (the master already checked settings and Slack)."""
    return wsgi_app(*create_app(process_settings()))
