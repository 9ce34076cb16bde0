"""The web view over real HTTP: signing in with Slack (a single-use state and nonce, the bot's own workspace, no
guests), the session cookie, the security headers, who sees a private incident, and the Bolt app staying a
single-workspace app whatever the environment holds. What a browser shows is in tests/browser/."""

from __future__ import annotations

import csv
import io
import os
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from pydantic import ValidationError

from bot.config import Settings
from bot.services.web_view import Filters
from tests.conftest import RunningBot, jwt_settings, web_settings
from tests.driver import (
    ALICE,
    BOB,
    approve,
    declare,
    ephemeral_texts,
    incident_channel,
    request,
    request_id,
    request_revert,
)
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.slack import TEAM_ID
from tests.fakes.slack_openid import CLIENT_ID
from tests.web_client import authorize, get, signed_in

DAVE = "U0DAVE001"  # a member of the workspace, in no incident channel


def assert_secure_headers(answer: requests.Response) -> None:
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_without_a_client_id_the_web_view_says_which_settings_turn_it_on(bot: RunningBot) -> None:
    answer = get(bot.web_url + "/")
    assert answer.status_code == 200
    for setting in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "WEB_BASE_URL", "WEB_SESSION_SECRET"):
        assert setting in answer.text
    assert_secure_headers(answer)
    assert get(bot.web_url + "/auth/slack/login", allow_redirects=False).status_code == 404


def test_a_half_configured_web_view_is_named_at_start() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, slack_client_id="1111.2222", web_base_url="https://incidents.example.com")  # type: ignore[call-arg]
    assert "also needs SLACK_CLIENT_SECRET, WEB_SESSION_SECRET" in str(refused.value)


def test_the_bot_stays_a_single_workspace_app_with_client_credentials_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, web_bot: RunningBot
) -> None:
    """Bolt would switch to multi-workspace OAuth (and drop the bot token) on these two variables."""
    monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "from-the-environment")
    from bot.app import create_app

    app, services = create_app(web_bot.services.settings, clock=web_bot.clock)
    try:
        assert app.oauth_flow is None and app.installation_store is None
        assert app.client.token == web_bot.services.settings.bot_token
    finally:
        services.close()

    assert os.environ["SLACK_CLIENT_ID"] == CLIENT_ID  # given back after the app was made
    declare(web_bot)  # and the running bot answers Slack
    assert web_bot.services.incidents.find(1) is not None


def test_sign_in_asks_slack_for_openid_and_opens_a_session_the_cookie_keeps(web_bot: RunningBot) -> None:
    callback, sent = authorize(web_bot, ALICE, next_path="/insights?x=1")
    assert sent["scope"] == "openid email profile" and sent["response_type"] == "code"
    assert sent["client_id"] == CLIENT_ID and sent["redirect_uri"] == web_bot.web_url + "/auth/slack/callback"
    assert len(sent["state"]) >= 32 and len(sent["nonce"]) >= 32 and sent["state"] != sent["nonce"]

    session = requests.Session()
    answer = session.get(callback, allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "/insights?x=1"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=43200" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # WEB_BASE_URL is http here; an https one adds it (below)
    assert_secure_headers(answer)
    page = session.get(web_bot.web_url + "/")
    assert page.status_code == 200 and "<h1>Incidents</h1>" in page.text and "Sign out" in page.text

    token_calls = web_bot.fake.calls_to("openid.connect.token")
    assert len(token_calls) == 1 and token_calls[0].args["redirect_uri"] == sent["redirect_uri"]
    assert len(web_bot.fake.calls_to("openid.connect.userInfo")) == 1


def test_a_replayed_or_tampered_callback_gets_a_sentence_and_no_session(web_bot: RunningBot) -> None:
    callback, _ = authorize(web_bot, ALICE)
    first = get(callback, allow_redirects=False)
    assert first.status_code == 302
    replayed = get(callback, allow_redirects=False)
    assert replayed.status_code == 400 and "already used" in replayed.text and "Set-Cookie" not in replayed.headers

    callback, _ = authorize(web_bot, ALICE)
    parts = urlsplit(callback)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    tampered = get(
        f"{web_bot.web_url}{parts.path}?{urlencode({**query, 'state': query['state'][:-2] + 'xx'})}",
        allow_redirects=False,
    )
    assert tampered.status_code == 400 and "was not started here" in tampered.text
    assert "Traceback" not in tampered.text and "Set-Cookie" not in tampered.headers
    assert_secure_headers(tampered)
    no_state = get(f"{web_bot.web_url}{parts.path}?code={query['code']}", allow_redirects=False)
    assert no_state.status_code == 400


def test_a_code_from_another_sign_in_fails_its_nonce(web_bot: RunningBot) -> None:
    """Two sign-ins begun; the code of the first brought back with the state of the second: the id_token's nonce
    belongs to the first, and the bot refuses it."""
    first, _ = authorize(web_bot, ALICE)
    second, _ = authorize(web_bot, ALICE)
    code = parse_qs(urlsplit(first).query)["code"][0]
    state = parse_qs(urlsplit(second).query)["state"][0]
    mixed = get(
        f"{web_bot.web_url}/auth/slack/callback?{urlencode({'code': code, 'state': state})}", allow_redirects=False
    )
    assert mixed.status_code == 400 and "nonce" in mixed.text and "Set-Cookie" not in mixed.headers


@pytest.mark.parametrize(
    ("team", "guest", "sentence"),
    [("T0OTHER01", False, "another Slack workspace"), (TEAM_ID, True, "Guests of the workspace")],
)
def test_another_workspace_and_guests_are_refused(web_bot: RunningBot, team: str, guest: bool, sentence: str) -> None:
    if guest:
        web_bot.fake.guests.add(BOB)
    callback, _ = authorize(web_bot, BOB, team)
    answer = get(callback, allow_redirects=False)
    assert answer.status_code == 400 and sentence in answer.text and "Set-Cookie" not in answer.headers


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "incidents"])
def test_the_return_path_after_sign_in_stays_on_this_site(web_bot: RunningBot, target: str) -> None:
    callback, _ = authorize(web_bot, ALICE, next_path=target)
    assert get(callback, allow_redirects=False).headers["Location"] == "/"


def test_signing_out_ends_the_session_on_the_server(web_bot: RunningBot) -> None:
    session = signed_in(web_bot, ALICE)
    kept = dict(session.cookies)
    out = session.post(web_bot.web_url + "/auth/signout")
    assert out.status_code == 200 and "signed out" in out.text
    assert "incident_session=;" in out.headers["Set-Cookie"]
    again = get(web_bot.web_url + "/", cookies=kept)  # the old cookie, kept by someone
    assert again.status_code == 401 and "Sign in with Slack" in again.text


def test_the_session_cookie_is_secure_behind_https(bot_factory: Any, fake_slack: Any) -> None:
    bot = bot_factory(**web_settings(fake_slack, base="https://incidents.example.com"))
    callback, sent = authorize(bot, ALICE)
    assert sent["redirect_uri"] == "https://incidents.example.com/auth/slack/callback"
    answer = get(callback, allow_redirects=False)
    assert answer.status_code == 302 and "Secure" in answer.headers["Set-Cookie"]


def test_a_kill_switch_shows_who_asked_who_approved_what_was_read_back_and_the_audit(
    bot_factory: Any, fake_slack: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(**web_settings(fake_slack), **jwt_settings(fake_org))
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    approve(bot, channel, card, approval)
    assert bot.run_jobs() == 0
    session = signed_in(bot, ALICE)

    def switches() -> str:
        page = session.get(bot.web_url + "/incidents/1").text
        return page.split('<h2 id="h-switches">')[1].split("</section>")[0]

    shown = switches()
    request_title = bot.services.approvals.get(request_id(approval))[0].title
    assert request_title in shown
    assert "u0alice01 at 2026-11-25 14:00" in shown and "u0bob0001 at 2026-11-25 14:00" in shown
    assert "<td>executed</td>" in shown and "verified: read back orgChatSurfacesEnabled__c = none" in shown
    head = bot.services.audit.head(1).short
    assert f"Audit trail: OK, 5 entries, head <code>{head}</code>" in shown
    revert, _ = request_revert(bot, channel, card, "vendor recovered")
    assert f"u0bob0001 (<code>{request_id(revert)}</code>)" in switches()  # who asked for the revert

    key = f"{bot.services.settings.key_prefix}:incident:1:audit"
    first = bot.services.redis.data.xrange(key, count=1)[0][0]
    bot.services.redis.data.xdel(key, first)  # someone removes the request's first audit entry
    assert "Audit trail: BROKEN: " in switches()


def test_a_private_incident_exists_only_for_the_members_of_its_channel(web_bot: RunningBot) -> None:
    declare(web_bot, "declare --private sev1 Possible exfiltration")
    declare(web_bot, "declare sev3 Slow pipelines", prefix="inc-2")
    member, stranger = signed_in(web_bot, ALICE), signed_in(web_bot, DAVE)

    listed = member.get(web_bot.web_url + "/").text
    assert "Possible exfiltration" in listed and "Slow pipelines" in listed
    assert member.get(web_bot.web_url + "/incidents/1").status_code == 200
    assert "Possible exfiltration" not in stranger.get(web_bot.web_url + "/").text
    assert "Slow pipelines" in stranger.get(web_bot.web_url + "/").text
    hidden = stranger.get(web_bot.web_url + "/incidents/1")
    assert hidden.status_code == 404 and "There is no incident 1." in hidden.text
    assert stranger.get(web_bot.web_url + "/incidents/1/version").status_code == 404

    def counted(session: requests.Session) -> dict[str, int]:
        rows = csv.DictReader(io.StringIO(session.get(web_bot.web_url + "/insights.csv").text))
        return {row["severity"]: int(row["incidents"]) for row in rows}

    assert counted(member) == {"SEV-1": 1, "SEV-3": 1}
    assert counted(stranger) == {"SEV-3": 1}
    assert "SEV-1" not in stranger.get(web_bot.web_url + "/insights").text.split("<tbody>")[1]
    assert not [text for text in ephemeral_texts(web_bot) if "Traceback" in text]


def test_filters_are_links_and_a_bad_one_gets_a_sentence(web_bot: RunningBot) -> None:
    declare(web_bot, "declare sev1 Org Chat down")
    declare(web_bot, "declare --drill sev3 Practice", prefix="drill-")
    session = signed_in(web_bot, ALICE)
    only_sev1 = session.get(web_bot.web_url + "/", params={"severity": "SEV-1", "status": "open"}).text
    assert "Org Chat down" in only_sev1 and "Practice" not in only_sev1
    drills = session.get(web_bot.web_url + "/", params={"drill": "only"}).text
    assert "Practice" in drills and "Org Chat down" not in drills
    closed = session.get(web_bot.web_url + "/", params={"status": "closed"}).text
    assert "0 incidents" in closed and "No incident matches these filters." in closed
    found = session.get(web_bot.web_url + "/", params={"q": "org chat"}).text
    assert "Org Chat down" in found and "Practice" not in found
    for bad, sentence in [({"severity": "sev9"}, "severity"), ({"page": "0"}, "page"), ({"status": "x"}, "Status")]:
        answer = session.get(web_bot.web_url + "/", params=bad)
        assert answer.status_code == 400 and sentence.lower() in answer.text.lower() and "Traceback" not in answer.text


def test_a_filtered_lists_links_keep_every_filter() -> None:
    """The links to the other pages of a list keep its filters, a search for "1" included; page 1 is the bare list."""
    filters = Filters.parse({"q": "1", "severity": "sev2", "page": "2"})
    assert filters.query(page=1) == {"severity": "SEV-2", "q": "1"}
    assert filters.query(page=3) == {"severity": "SEV-2", "q": "1", "page": "3"}


def test_the_list_pages_fifty_at_a_time_open_first(web_bot: RunningBot) -> None:
    from datetime import timedelta

    from bot.core.incident import Incident, IncidentStatus
    from bot.core.severity import Severity

    store = web_bot.services.incidents.store
    declared = web_bot.clock.now() - timedelta(days=3)
    for number in range(1, 121):
        store.claim_number(f"seed-{number}")
        status = IncidentStatus.INVESTIGATING if number in (3, 7) else IncidentStatus.RESOLVED
        store.save(
            Incident(
                number=number,
                title=f"Seeded {number}",
                severity=Severity.SEV3,
                status=status,
                team_id=TEAM_ID,
                declared_by=ALICE,
                declared_at=declared,
                commander=ALICE,
                resolved_at=None if number in (3, 7) else declared + timedelta(hours=1),
            )
        )
    session = signed_in(web_bot, ALICE)
    first = session.get(web_bot.web_url + "/").text
    assert "120 incidents, page 1 of 3" in first
    order = [int(n) for n in re.findall(r'href="/incidents/(\d+)"', first)]
    assert order[:3] == [7, 3, 120] and len(order) == 50
    assert 'href="/?page=2"' in first
    third = session.get(web_bot.web_url + "/", params={"page": "3"}).text
    assert [int(n) for n in re.findall(r'href="/incidents/(\d+)"', third)][-1] == 1


def test_what_people_wrote_is_shown_never_run(web_bot: RunningBot) -> None:
    """A title, a note and the post-mortem draft carry people's words: the page escapes them."""
    channel = declare(web_bot, "declare sev2 <script>alert(1)</script> in titles")
    web_bot.slack.command("note <img src=x onerror=alert(2)> seen", user=BOB, channel_id=channel.id)
    web_bot.fake.wait_until(lambda: any("onerror" in e.text for e in web_bot.services.timeline.entries(1)))
    page = signed_in(web_bot, ALICE).get(web_bot.web_url + "/incidents/1").text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(2)&gt; seen" in page
