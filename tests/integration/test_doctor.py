"""`incident-bot doctor`: each check passes, or fails with a one-line fix."""

from __future__ import annotations

import subprocess
from typing import Any

from tests.conftest import OwnRedis, run_cli
from tests.driver import worker_env
from tests.fakes.pagers import OPSGENIE_KEY, ROUTING_KEY, FakeOpsgenie, FakePagerDuty
from tests.fakes.salesforce import BOT_PROFILE_SET, FakeSalesforce
from tests.fakes.slack_openid import CLIENT_ID as OPENID_CLIENT_ID
from tests.fakes.slack_openid import CLIENT_SECRET as OPENID_CLIENT_SECRET
from tests.fakes.trackers import GITHUB_TOKEN, JIRA_EMAIL, JIRA_TOKEN, PROJECT, REPOSITORY, FakeGitHub, FakeJira


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli("doctor", env=env, timeout=120)


def check_line(result: subprocess.CompletedProcess[str], name: str) -> str:
    """The line of one check (`Pager`, `Trackers`…) in doctor's output."""
    return next(line for line in result.stdout.splitlines() if line[6:].startswith(name + ":"))


def test_a_healthy_deployment_passes(own_redis: OwnRedis, bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(redis_url=own_redis.url)
    result = doctor(worker_env(bot, fake_org))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "PASS  Slack scopes",
        "PASS  Salesforce login",
        "PASS  Salesforce permissions",
        "PASS  Redis",
        "WARN  Worker",  # none runs in this test
        "WARN  Approvers",
        "WARN  Audit trail",
        "WARN  Pager",
        "PASS  Trackers",
        "PASS  Web view",
    ]
    assert "no worker is running for this bot right now" in lines[4]
    assert "no approver policy: any other member of an incident channel may approve" in lines[5]
    assert "AUDIT_SIGNING_KEY is not set: the audit trail is sealed with plain SHA-256" in lines[6]
    assert "no pager is set up: a SEV-1 reaches only the people in Slack" in lines[7]
    keyed = doctor({**worker_env(bot, fake_org), "AUDIT_SIGNING_KEY": "k" * 32})
    assert keyed.stdout.splitlines()[6] == (
        "PASS  Audit trail: entries and head are sealed with HMAC-SHA256 (AUDIT_SIGNING_KEY)"
    )
    assert "logged in as 005000000000001AAA (jwt); FM_Config.Default has 6 fields" in lines[1]


def test_each_problem_is_named_with_its_fix(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory()  # the machine's Redis keeps nothing on disk
    bot.fake.scopes.discard("pins:write")
    profile = next(r for r in fake_org.rows("PermissionSet") if r["Id"] == BOT_PROFILE_SET)
    profile["PermissionsCustomizeApplication"] = False
    result = doctor(worker_env(bot, fake_org))
    assert result.returncode == 1
    out = result.stdout
    assert "FAIL  Slack scopes: the token lacks pins:write: reinstall the app from manifest.yml" in out
    assert (
        "FAIL  Salesforce permissions: the integration user lacks Customize Application (FM_Config through the "
        "Metadata API): grant them in its permission set"
    ) in out
    assert "FAIL  Redis: turn on append-only persistence (appendonly yes, appendfsync everysec)" in out
    unnamed = doctor({k: v for k, v in worker_env(bot, fake_org).items() if k != "FM_CONFIG_RECORD"})
    assert unnamed.returncode == 1
    assert (
        "FAIL  Salesforce login: logged in as 005000000000001AAA (jwt); set FM_CONFIG_RECORD to the FM_Config "
        "record the kill switches change (its DeveloperName)"
    ) in unnamed.stdout


def test_pager_settings_are_checked_by_their_shape_without_paging(
    own_redis: OwnRedis, bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(redis_url=own_redis.url)
    pagerduty, opsgenie = FakePagerDuty().start(), FakeOpsgenie().start()
    try:
        env = {
            **worker_env(bot, fake_org),
            "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "PAGERDUTY_EVENTS_URL": pagerduty.events_url,
            "OPSGENIE_API_KEY": OPSGENIE_KEY,
            "OPSGENIE_API_URL": opsgenie.api_url,
            "PAGE_ON_SEVERITIES": "sev1,sev2",
        }
        good = doctor(env)
        assert good.returncode == 0, good.stdout
        assert check_line(good, "Pager") == (
            "WARN  Pager: PagerDuty and Opsgenie page on SEV-1, SEV-2; PAGERDUTY_WEBHOOK_SECRET is not set, so an "
            "acknowledgement made in PagerDuty does not show in the channel"
        )
        signed = doctor({**env, "PAGERDUTY_WEBHOOK_SECRET": "s" * 32})
        assert check_line(signed, "Pager") == "PASS  Pager: PagerDuty and Opsgenie page on SEV-1, SEV-2"
        wrong = doctor(
            {
                **env,
                "PAGERDUTY_ROUTING_KEY": "https://events.pagerduty.com/integration/abc",
                "OPSGENIE_API_KEY": "GenieKey " + OPSGENIE_KEY,
                "OPSGENIE_API_URL": "http://api.opsgenie.com",
            }
        )
        assert wrong.returncode == 1
        line = check_line(wrong, "Pager")
        assert line.startswith("FAIL  Pager: PAGERDUTY_ROUTING_KEY is not an integration key")
        assert "OPSGENIE_API_KEY is not an API integration key" in line
        assert "OPSGENIE_API_URL must be an https:// address" in line
        assert OPSGENIE_KEY not in wrong.stdout and "GenieKey" not in wrong.stdout
        assert pagerduty.received == opsgenie.received == 0  # nobody was paged, nor asked anything
    finally:
        pagerduty.stop()
        opsgenie.stop()


def test_trackers_are_checked_with_a_read_that_changes_nothing(
    own_redis: OwnRedis, bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(redis_url=own_redis.url)
    github, jira = FakeGitHub().start(), FakeJira().start()
    try:
        env = {
            **worker_env(bot, fake_org),
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_API_URL": github.api_url,
            "JIRA_BASE_URL": jira.base_url,
            "JIRA_EMAIL": JIRA_EMAIL,
            "JIRA_API_TOKEN": JIRA_TOKEN,
            "JIRA_PROJECT_KEY": PROJECT,
        }
        good = doctor(env)
        assert good.returncode == 0, good.stdout
        assert check_line(good, "Trackers") == (
            "WARN  Trackers: GitHub: acme/ops (private) takes issues; Jira: signed in as Incident Bot; project OPS "
            "(Operations); GITHUB_WEBHOOK_SECRET, JIRA_WEBHOOK_SECRET not set, so what is closed there does not come "
            "back"
        )
        wrong = doctor({**env, "GITHUB_TOKEN": "ghp_wrong", "JIRA_PROJECT_KEY": "NOPE"})
        assert wrong.returncode == 1
        assert check_line(wrong, "Trackers") == (
            "FAIL  Trackers: GitHub: GitHub refused to answer (Bad credentials); Jira: Jira refused to answer "
            "(No project could be found with key 'NOPE'.); check the GITHUB_* or JIRA_* settings"
        )
        assert "ghp_wrong" not in wrong.stdout and github.created == [] and jira.created == []
        half = doctor({**env, "JIRA_EMAIL": ""})
        assert "Jira settings are incomplete: set JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT_KEY" in (
            half.stdout + half.stderr
        )
    finally:
        github.stop()
        jira.stop()


def test_the_web_view_check_reads_slacks_keys_and_wants_https(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory()
    web = {
        "SLACK_CLIENT_ID": OPENID_CLIENT_ID,
        "SLACK_CLIENT_SECRET": OPENID_CLIENT_SECRET,
        "WEB_SESSION_SECRET": "w" * 32,
        "SLACK_OPENID_KEYS_URL": f"{bot.fake.url}/openid/connect/keys",
    }
    env = {**worker_env(bot, fake_org), **web}

    good = check_line(doctor({**env, "WEB_BASE_URL": "https://incidents.example.com"}), "Web view")
    assert good == (
        "PASS  Web view: on at https://incidents.example.com; https://incidents.example.com/auth/slack/callback "
        "must be among the Slack app's Redirect URLs"
    )
    plain = check_line(doctor({**env, "WEB_BASE_URL": "http://incidents.example.com"}), "Web view")
    assert plain.startswith("WARN  Web view: on at http://incidents.example.com, which is not https")
    wrong = doctor({**env, "WEB_BASE_URL": "https://x.example", "SLACK_OPENID_KEYS_URL": f"{bot.fake.url}/nope"})
    assert wrong.returncode == 1
    assert check_line(wrong, "Web view").startswith(
        f"FAIL  Web view: Slack's signing keys at {bot.fake.url}/nope could not be read (HTTP 404)"
    )
