"""Signing in to the bot's web view over real HTTP, as a browser would without one: the login redirect, the
fake Slack's authorize page, the callback. For the tests of what a browser does not show (headers, cookies,
replays); the browser tests sign in by clicking."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.conftest import RunningBot
from tests.fakes.slack import TEAM_ID

TIMEOUT_SECONDS = 10


def get(url: str, **options: Any) -> requests.Response:
    """A GET without a session, as a browser without the cookie (or with one a test hands it) makes."""
    return requests.get(url, timeout=TIMEOUT_SECONDS, **options)


def authorize(bot: RunningBot, user: str, team: str = TEAM_ID, next_path: str = "/") -> tuple[str, dict[str, str]]:
    """Begins a sign-in and lets the fake Slack sign `user` in: the callback address Slack redirects to (not yet
    visited), and the query the bot sent to Slack's authorize page."""
    bot.fake.openid.sign_in_as(user, team)
    login = get(f"{bot.web_url}/auth/slack/login", params={"next": next_path}, allow_redirects=False)
    assert login.status_code == 302, login.text
    sent = {name: values[0] for name, values in parse_qs(urlsplit(login.headers["Location"]).query).items()}
    slack = get(login.headers["Location"], allow_redirects=False)
    assert slack.status_code == 302, slack.content
    back = urlsplit(slack.headers["Location"])
    return f"{bot.web_url}{back.path}?{back.query}", sent


def signed_in(bot: RunningBot, user: str, team: str = TEAM_ID) -> requests.Session:
    """A session signed in as `user`."""
    callback, _ = authorize(bot, user, team)
    session = requests.Session()
    answer = session.get(callback, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return session
