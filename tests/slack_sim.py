"""Sends the bot what Slack sends: signed slash commands, clicks, modal submissions and events.

Bodies start from the real payloads in `tests/fixtures/slack-payloads/` and change only what a test needs.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests

from tests.fakes.slack import TEAM_ID, FakeSlack

PAYLOADS = Path(__file__).resolve().parent / "fixtures" / "slack-payloads"
SIGNING_SECRET = "test-signing-secret-0123456789"


def payload(name: str) -> Any:
    text = (PAYLOADS / name).read_text()
    return text if name.endswith(".txt") else json.loads(text)


def signature(secret: str, timestamp: int, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackSim:
    def __init__(self, app_url: str, fake: FakeSlack, secret: str = SIGNING_SECRET) -> None:
        self.app_url = app_url
        self.fake = fake
        self.secret = secret
        self.http = requests.Session()
        self._ids = itertools.count(1)

    # ----- transport

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        stamp = int(time.time()) if timestamp is None else timestamp
        sent_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": signature(secret or self.secret, stamp, body),
            **(headers or {}),
        }
        return self.http.post(self.app_url, data=body.encode(), headers=sent_headers, timeout=10)

    def post_form(self, fields: dict[str, str], **options: Any) -> requests.Response:
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **options)

    def post_payload(self, body: dict[str, Any], **options: Any) -> requests.Response:
        return self.post_form({"payload": json.dumps(body)}, **options)

    # ----- what people do

    def command_body(self, text: str, user: str, channel_id: str) -> dict[str, str]:
        fields = dict(parse_qsl(payload("bolt_test_slash_command__slash_command_body.txt").strip()))
        fields.update(
            team_id=TEAM_ID,
            channel_id=channel_id,
            channel_name="general",
            user_id=user,
            user_name=user.lower(),
            command="/incident",
            text=text,
            response_url=self.fake.new_response_url(),
            trigger_id=self.fake.new_trigger_id(),
            api_app_id="A0FAKE001",
        )
        return fields

    def command(
        self, text: str, user: str = "U0ALICE01", channel_id: str = "C0GENERAL", **options: Any
    ) -> requests.Response:
        return self.post_form(self.command_body(text, user, channel_id), **options)

    def view_submission(self, view: dict[str, Any], values: dict[str, Any], user: str) -> dict[str, Any]:
        body = copy.deepcopy(payload("bolt_test_view_submission__body.json"))
        body["team"]["id"] = TEAM_ID
        body["user"].update(id=user, username=user.lower(), name=user.lower(), team_id=TEAM_ID)
        body["trigger_id"] = self.fake.new_trigger_id()  # every interaction has its own
        submitted = {key: value for key, value in view.items() if key != "state"}
        submitted["state"] = {"values": state_values(view, values)}
        submitted["team_id"] = TEAM_ID
        body["view"] = {**body["view"], **submitted}
        return body

    def submit(
        self, view: dict[str, Any], values: dict[str, Any], user: str = "U0ALICE01", **options: Any
    ) -> requests.Response:
        return self.post_payload(self.view_submission(view, values, user), **options)

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "U0ALICE01",
        channel_id: str,
        message_ts: str,
        response_url: str | None = None,
        **options: Any,
    ) -> requests.Response:
        body = self.click_body(
            action_id, value, user=user, channel_id=channel_id, message_ts=message_ts, response_url=response_url
        )
        return self.post_payload(body, **options)

    def click_body(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "U0ALICE01",
        channel_id: str,
        message_ts: str,
        response_url: str | None = None,
    ) -> dict[str, Any]:
        """The `block_actions` payload of a click on a button of a message."""
        body = copy.deepcopy(payload("bolt_test_block_actions__body.json"))
        body["user"].update(id=user, username=user.lower(), name=user.lower(), team_id=TEAM_ID)
        body["team"]["id"] = TEAM_ID
        body["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        body["channel"] = {"id": channel_id, "name": "incident"}
        body["trigger_id"] = self.fake.new_trigger_id()
        body["response_url"] = response_url or self.fake.new_response_url()
        channel = self.fake.channels.get(channel_id)
        message = channel.messages.get(message_ts) if channel else None
        if message is not None:
            body["message"] = message
        body["actions"] = [
            {
                "action_id": action_id,
                "block_id": "b",
                "value": value,
                "type": "button",
                "text": {"type": "plain_text", "text": "button"},
                "action_ts": f"{time.time():.6f}",
            }
        ]
        return body

    def event(self, event: dict[str, Any], **options: Any) -> requests.Response:
        return self.post(json.dumps(self.event_body(event)), "application/json", **options)

    def event_body(self, event: dict[str, Any]) -> dict[str, Any]:
        """The `event_callback` body that wraps `event`."""
        body = copy.deepcopy(payload("bolt_test_message__message_body.json"))
        body["team_id"] = TEAM_ID
        body["api_app_id"] = "A0FAKE001"
        body["event"] = event
        body["event_id"] = f"Ev{next(self._ids):08d}"
        body["event_time"] = int(time.time())
        return body


INITIAL = {  # where each input keeps the value it starts with, and where the state carries it
    "plain_text_input": ("initial_value", "value"),
    "number_input": ("initial_value", "value"),
    "url_text_input": ("initial_value", "value"),
    "email_text_input": ("initial_value", "value"),
    "static_select": ("initial_option", "selected_option"),
    "radio_buttons": ("initial_option", "selected_option"),
    "checkboxes": ("initial_options", "selected_options"),
    "users_select": ("initial_user", "selected_user"),
    "datepicker": ("initial_date", "selected_date"),
}


def state_values(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """What Slack puts in `view.state.values` when a person fills the inputs with `values` by block id: every
    input is there; one the person left alone holds its initial value, or nothing (null, an empty list)."""
    state: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        if element["type"] not in INITIAL:
            raise AssertionError(f"state_values does not know {element['type']}")
        if block["block_id"] not in values:
            initial, key = INITIAL[element["type"]]
            empty: Any = [] if element["type"] == "checkboxes" else None
            state[block["block_id"]] = {
                element["action_id"]: {"type": element["type"], key: element.get(initial, empty)}
            }
            continue
        value = values[block["block_id"]]
        entry: dict[str, Any] = {"type": element["type"]}
        if element["type"] in ("plain_text_input", "number_input", "url_text_input", "email_text_input"):
            entry["value"] = value
        elif element["type"] in ("static_select", "radio_buttons"):
            option = next((o for o in element["options"] if o["value"] == value), None)
            entry["selected_option"] = option if option is not None else {"value": value}
        elif element["type"] == "checkboxes":
            entry["selected_options"] = [o for o in element["options"] if o["value"] in value]
        elif element["type"] == "users_select":
            entry["selected_user"] = value
        else:
            entry["selected_date"] = value
        state[block["block_id"]] = {element["action_id"]: entry}
    return state
