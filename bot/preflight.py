"""Checks made before a process starts serving: Slack accepts the tokens and answers. A failure is one sentence
that says what to fix (a `SettingsError`), never a trace from deep inside a worker that failed to boot."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.adapters.slack_api import TIMEOUT_SECONDS, build_web_client
from bot.config import Settings, SettingsError

_REFUSED = {
    "invalid_auth": "Slack does not know this {name}: copy it again from {where}",
    "not_authed": "Slack does not know this {name}: copy it again from {where}",
    "token_revoked": "this {name} was revoked: reinstall the app to the workspace and copy the new one from {where}",
    "token_expired": "this {name} has expired: copy a new one from {where}",
    "account_inactive": "this {name} belongs to an app or workspace that is no longer active: reinstall the app",
    "invalid_token": "this {name} is not a valid token: copy it again from {where}",
}
WHERE_BOT = "OAuth & Permissions → Bot User OAuth Token"
WHERE_APP = "Basic Information → App-Level Tokens"


def check_slack(settings: Settings) -> str:
    """The bot's user id, once Slack accepted SLACK_BOT_TOKEN (and SLACK_APP_TOKEN in Socket Mode)."""
    client = build_web_client(settings.bot_token, settings.slack_api_base_url)
    answer = _call(settings, client.auth_test, "SLACK_BOT_TOKEN", WHERE_BOT)
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()
        app_client = WebClient(base_url=settings.slack_api_base_url, timeout=TIMEOUT_SECONDS)
        _call(settings, lambda: app_client.apps_connections_open(app_token=app_token), "SLACK_APP_TOKEN", WHERE_APP)
    return str(answer["user_id"])


def _call(settings: Settings, call: Callable[[], SlackResponse], name: str, where: str) -> SlackResponse:
    sdk_logger = logging.getLogger("slack_sdk")
    level = sdk_logger.level
    sdk_logger.setLevel(logging.CRITICAL)  # its retries and failures become the one sentence below
    try:
        return call()
    except (SlackApiError, OSError) as error:
        raise SettingsError(f"Cannot start: {slack_problem(settings, error, name, where)}.") from None
    finally:
        sdk_logger.setLevel(level)


def slack_problem(settings: Settings, error: Exception, name: str = "SLACK_BOT_TOKEN", where: str = WHERE_BOT) -> str:
    """What went wrong asking Slack, and what to fix, as one clause."""
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error") or f"HTTP {error.response.status_code}")
        template = _REFUSED.get(code)
        reason = template.format(name=name, where=where) if template else f"Slack refused {name}"
        return f"{reason} (Slack said {code})"
    return (
        f"Slack is unreachable at {settings.slack_api_base_url} ({type(error).__name__}): check the network, a "
        "proxy, or SLACK_API_BASE_URL"
    )
