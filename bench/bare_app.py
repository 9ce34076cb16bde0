"""The framework's floor: a Bolt app that only acks, under the same gunicorn, for the ack-latency benchmark."""

from __future__ import annotations

import os
import re
from typing import Any

from flask import Flask, Response, request
from slack_bolt import Ack, App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient


def create() -> Flask:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_BASE_URL"])
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @app.command("/incident")
    def command(ack: Ack) -> None:
        ack()

    @app.action(re.compile(".*"))
    def action(ack: Ack, body: dict[str, Any]) -> None:
        ack()

    handler = SlackRequestHandler(app)
    flask_app = Flask("bare")

    @flask_app.post("/slack/events")
    def events() -> Response:
        return handler.handle(request)

    return flask_app
