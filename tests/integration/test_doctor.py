"""`incident-bot doctor`: each check passes, or fails with a one-line fix."""

from __future__ import annotations

import subprocess
from typing import Any

from tests.conftest import OwnRedis, run_cli
from tests.fakes.salesforce import BOT_PROFILE_SET, FakeSalesforce
from tests.integration.test_faults import worker_env


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli("doctor", env=env, timeout=120)


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
    ]
    assert "no approver policy: any other member of an incident channel may approve" in lines[4]
    assert "AUDIT_SIGNING_KEY is not set: the audit trail is sealed with plain SHA-256" in lines[5]
    keyed = doctor({**worker_env(bot, fake_org), "AUDIT_SIGNING_KEY": "k" * 32})
    assert keyed.stdout.splitlines()[5] == (
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
