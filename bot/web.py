"""The HTTP entry point: Bolt's Flask adapter at /slack/events, the pagers' and trackers' signed webhooks, the web
view's pages (`handlers/web.py`), and a health check.

Served by gunicorn (`bot/gunicorn_config.py`): the Procfile's `web:` and `incident-bot run` start the same.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask, Response, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler

from bot.app import Services, create_app
from bot.config import process_settings
from handlers.web import register_web

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

EVENTS_PATH = "/slack/events"
PAGERDUTY_WEBHOOK_PATH = "/webhooks/pagerduty"
GITHUB_WEBHOOK_PATH = "/webhooks/github"
JIRA_WEBHOOK_PATH = "/webhooks/jira"
SERVICES = "incident_bot_services"
# Larger than anything Slack sends (its biggest payload, a view submission, carries a view of at most 100 blocks:
# a few hundred kilobytes encoded). A larger body is refused with 413 before the signature check would read it.
MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = b"request body too large\n"


class BodyLimit:
    """WSGI middleware: refuses a body over `limit` bytes with 413, from its Content-Length unread, or, sent
    chunked, once `limit` bytes have been read; a body within it is passed on whole."""

    def __init__(self, app: WSGIApplication, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        declared = environ.get("CONTENT_LENGTH")
        if declared and declared.isdigit():
            if int(declared) > self.limit:
                return self._refuse(start_response)
        elif environ.get("wsgi.input_terminated"):  # chunked: read at most one byte past the limit
            body = environ["wsgi.input"].read(self.limit + 1)
            if len(body) > self.limit:
                return self._refuse(start_response)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(start_response: StartResponse) -> list[bytes]:
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(TOO_LARGE))), ("Connection", "close")]
        start_response("413 Content Too Large", headers)
        return [TOO_LARGE]


def wsgi_app(app: App, services: Services) -> Flask:
    flask_app = Flask(__name__, static_folder=None)  # the web view serves its own (handlers/web.py)
    flask_app.wsgi_app = BodyLimit(flask_app.wsgi_app, MAX_BODY_BYTES)  # type: ignore[method-assign]
    flask_app.extensions[SERVICES] = services
    handler = SlackRequestHandler(app)

    @flask_app.post(EVENTS_PATH)
    def slack_events() -> Response:
        return handler.handle(request)

    @flask_app.post(GITHUB_WEBHOOK_PATH)
    def github_webhook() -> tuple[str, int]:
        """GitHub `issues` deliveries: an action item's issue closed, reopened or reassigned there."""
        return ("", services.tracking.github_webhook(request.get_data(), _headers()))

    @flask_app.post(JIRA_WEBHOOK_PATH)
    def jira_webhook() -> tuple[str, int]:
        """Jira `jira:issue_updated` deliveries: an action item's issue done, reassigned or rescheduled there."""
        return ("", services.tracking.jira_webhook(request.get_data(), _headers()))

    @flask_app.post(PAGERDUTY_WEBHOOK_PATH)
    def pagerduty_webhook() -> tuple[str, int]:
        """PagerDuty v3 webhooks: the on-call acknowledged or resolved there (signed with its secret)."""
        status = services.paging.pagerduty_webhook(request.get_data(), request.headers.get("X-PagerDuty-Signature", ""))
        return ("", status)

    register_web(flask_app, services)

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


def _headers() -> dict[str, str]:
    """The request's headers by lower-case name (HTTP names are case-insensitive)."""
    return {name.lower(): value for name, value in request.headers.items()}
