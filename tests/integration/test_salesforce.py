"""Salesforce in the loop: the snapshot on declare, the chart, playbook queries, Apex and publish, faults.

Everything runs over HTTPS against the fake org in `tests/fakes/salesforce.py`, which refuses the runbook's
literal SOQL the way a real org does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.playbook_files import BUNDLED_PLAYBOOKS
from bot.adapters.salesforce.errors import SalesforceError, SalesforceNoAnswer, SalesforceRefused
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.salesforce.login import Credentials
from bot.core.timeline import EntryKind
from bot.render.modals import RUN_CALLBACK
from tests.conftest import RunningBot, jwt_gateway, jwt_settings
from tests.driver import (
    click,
    declare,
    ephemeral_texts,
    message,
    open_phase,
    state,
    submit_run_modal,
    text_of,
    wait_settled,
)
from tests.fakes.salesforce import (
    BOT_USER_ID,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    SUSPECT_USER_ID,
    USERNAME,
    FakeSalesforce,
)
from tests.fakes.slack import Channel

SNAPSHOT = "first-five/snapshot-executions"


def results_posted(bot: RunningBot, channel: Channel, title: str) -> dict[str, Any]:
    return bot.fake.wait_until(  # type: ignore[no-any-return]
        lambda: next(
            (
                m
                for m in channel.messages.values()
                if title in json.dumps(m.get("blocks", [])) and ":bar_chart:" in json.dumps(m.get("blocks", []))
            ),
            None,
        )
    )


def test_snapshot_runs_on_declare_concurrently_and_is_kept_for_the_post_mortem(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    fake_org.inject(r"/query", "slow", times=2)
    channel = declare(sf_bot)
    executions = wait_settled(sf_bot, "first-five", "snapshot-executions")
    audit = wait_settled(sf_bot, "first-five", "snapshot-audit")
    assert (executions.status.value, executions.by, executions.result) == ("done", None, "Failed 12 · Succeeded 30")
    assert audit.status.value == "done" and "org_chat_turn 3" in audit.result
    assert fake_org.most_in_flight >= 2  # the two snapshot queries were in flight together

    table = text_of(results_posted(sf_bot, channel, "Snapshot state: pipeline executions by status"))
    assert "Status__c  c" in table and "Failed     12" in table
    checklist = message(sf_bot, channel, "first-five")
    sf_bot.fake.wait_until(
        lambda: "_Done by the bot at 14:00_" in text_of(checklist) and "Failed 12 · Succeeded 30" in text_of(checklist)
    )

    stored = sf_bot.services.walkthrough.steps.result(1, SNAPSHOT)
    assert stored is not None and stored.rows == [{"Status__c": "Failed", "c": 12}, {"Status__c": "Succeeded", "c": 30}]
    assert stored.statement == (
        "SELECT Status__c, COUNT(Id) c FROM PipelineExecution__c WHERE LastModifiedDate >= 2026-11-25T13:00:00+00:00 "
        "AND LastModifiedDate < 2026-11-25T14:00:00+00:00 GROUP BY Status__c"
    )
    csvs = [f for f in sf_bot.fake.files.values() if f["name"] == "inc-1-snapshot-executions.csv"]
    assert csvs and csvs[0]["content"] == b"Status__c,c\r\nFailed,12\r\nSucceeded,30\r\n"


def test_without_salesforce_nothing_runs_on_declare(bot: RunningBot) -> None:
    declare(bot)
    assert bot.services.salesforce is None
    assert state(bot, "first-five", "snapshot-executions").status.value == "pending"


def test_confirm_scope_runs_on_declare_posts_both_trends_then_the_chart_and_a_click_runs_it_again(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = declare(sf_bot)
    done = wait_settled(sf_bot, "first-five", "confirm-scope")
    # the bot's own run: the last hour of each, pipelines failing at 28.6%, Org Chat with the three rejections
    assert (done.status.value, done.by) == ("done", None)
    assert done.result == "Pipeline executions 12/42 (28.6%) · Org Chat turns 3/6 (50.0%) in the last hour"
    text = text_of(results_posted(sf_bot, channel, "Confirm scope"))
    assert "with the severity matrix's line" in text
    pipelines, org_chat = text.split("*Pipeline executions*")[1].split("*Org Chat turns*")
    assert (
        "2026-11-25 13:00      12     42  28.6%" in pipelines and "2026-11-25 08:00       1     41   2.4%" in pipelines
    )
    assert "2026-11-25 12:00       4      5  80.0%" in org_chat and "2026-11-25 08:00       0      0      -" in org_chat
    exported = sf_bot.fake.wait_until(
        lambda: next(
            (f for f in sf_bot.fake.files.values() if f["name"] == "inc-1-confirm-scope.csv" and f["title"]), None
        )
    )
    assert exported["content"].decode().splitlines()[0] == "series,hour,failed,total"
    assert not [f for f in sf_bot.fake.files.values() if f["name"].endswith(".png")]  # drawn off the request path
    assert sf_bot.run_jobs() == 0
    png = next(f for f in sf_bot.fake.files.values() if f["name"] == "inc-1-error-rate.png")
    assert png["content"].startswith(b"\x89PNG\r\n\x1a\n") and len(png["content"]) > 5000
    assert png["channels"] == [channel.id]
    found = sf_bot.services.walkthrough.chart(1, "first-five", "confirm-scope")
    assert found is not None
    assert (found[1].threshold_percent, found[1].threshold_label) == (10, "SEV-2: 10%")  # severity.yaml's line

    checklist = message(sf_bot, channel, "first-five")
    sf_bot.fake.wait_until(lambda: "Run again" in text_of(checklist))
    queries = len(fake_org.calls_to("/query"))
    sf_bot.clock.advance(minutes=5)
    click(sf_bot, channel, checklist, "step.run", "confirm-scope")  # Run again: the numbers are a moment's
    again = sf_bot.fake.wait_until(
        lambda: (
            state(sf_bot, "first-five", "confirm-scope").by == "U0ALICE01"
            and wait_settled(sf_bot, "first-five", "confirm-scope")
        )
    )
    assert again.status.value == "done" and len(fake_org.calls_to("/query")) == queries + 2  # its two series


def test_the_telemetry_dashboard_is_a_link_when_its_url_is_set(bot_factory: Any) -> None:
    bot = bot_factory(telemetry_dashboard_url="https://grafana.example.test/d/flowmason")
    checklist = message(bot, declare(bot), "first-five")
    assert "https://grafana.example.test/d/flowmason" in json.dumps(checklist["blocks"])


def run_playbook_step(bot: RunningBot, channel: Channel, key: str, phase: str, step: str) -> dict[str, Any]:
    msg = open_phase(bot, channel, key, phase)
    click(bot, channel, msg, "step.run", step)
    return msg


def test_provider_outage_query_escapes_like_wildcards(sf_bot: RunningBot) -> None:
    channel = declare(sf_bot)
    run_playbook_step(sf_bot, channel, "provider-outage", "diagnose", "failed-llm-stages")
    done = wait_settled(sf_bot, "provider-outage", "failed-llm-stages")
    assert done.result == "3 rows"
    table = text_of(results_posted(sf_bot, channel, "Recent failed LLM stages"))
    assert "llm_anthropic" in table and "llmXtool" not in table and "llm_openai" not in table


def test_rate_limit_storm_aggregates_by_actor(sf_bot: RunningBot) -> None:
    channel = declare(sf_bot)
    run_playbook_step(sf_bot, channel, "rate-limit-storm", "discovery", "rate-limit-by-actor")
    wait_settled(sf_bot, "rate-limit-storm", "rate-limit-by-actor")
    rows = sf_bot.services.walkthrough.steps.result(1, "rate-limit-storm/rate-limit-by-actor").rows  # type: ignore[union-attr]
    assert rows == [
        {"Actor_Id__c": SUSPECT_USER_ID, "Error_Code__c": "VENDOR_RATE_LIMIT", "c": 20},
        {"Actor_Id__c": "005000000000XYZAA2", "Error_Code__c": "VENDOR_RATE_LIMIT", "c": 2},
    ]


def test_suspect_turns_are_filtered_in_python_and_windowed(sf_bot: RunningBot) -> None:
    channel = declare(sf_bot)
    run_playbook_step(sf_bot, channel, "prompt-injection", "discovery", "suspect-turns")
    wait_settled(sf_bot, "prompt-injection", "suspect-turns")
    rows = sf_bot.services.walkthrough.steps.result(1, "prompt-injection/suspect-turns").rows  # type: ignore[union-attr]
    assert [r["Detail__c"] for r in rows] == [
        "SELECT Id, Email FROM Contact LIMIT 9999",
        "SELECT Id FROM Opportunity LIMIT 9999",
    ]


def test_query_parameters_come_from_a_modal_with_a_checked_salesforce_id(sf_bot: RunningBot) -> None:
    channel = declare(sf_bot)
    run_playbook_step(sf_bot, channel, "prompt-injection", "diagnose", "suspect-dml")
    view, _ = submit_run_modal(sf_bot, {})
    for typed, error in (
        ("005000000000ABCAAA", "That 18-character Id's last three characters do not match: check it was copied whole."),
        ("not an id", "A Salesforce Id has 15 or 18 letters and digits."),
        ("001000000000ABC", "A Salesforce user Id starts with 005."),
        ("", "Give the Suspect's Salesforce user Id."),
    ):
        response = sf_bot.slack.submit(view, {"suspect_user_id": typed})
        assert response.json() == {"response_action": "errors", "errors": {"suspect_user_id": error}}
    assert state(sf_bot, "prompt-injection", "suspect-dml").status.value == "pending"
    assert sf_bot.slack.submit(view, {"suspect_user_id": "005000000000ABC"}).text == ""  # the 15-character form
    done = wait_settled(sf_bot, "prompt-injection", "suspect-dml")
    assert done.result == "3 rows"  # today's two and the one of 2 days ago; 10 days ago is outside LAST_N_DAYS:7
    stored = sf_bot.services.walkthrough.steps.result(1, "prompt-injection/suspect-dml")
    assert stored is not None and f"Actor_Id__c = '{SUSPECT_USER_ID}'" in stored.statement

    # the Id is remembered: the next form that asks for it starts with it
    assert sf_bot.services.walkthrough.steps.parameters(1) == {"suspect_user_id": SUSPECT_USER_ID}


def test_change_steps_show_exactly_what_will_run_and_ask_once(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = declare(sf_bot)
    recover = run_playbook_step(sf_bot, channel, "provider-outage", "recover", "resume-failed")
    sf_bot.fake.wait_until(
        lambda: (
            "Run “Failed executions to resume” first: it counts what “Resume executions that failed in the last "
            "hour” will touch." in ephemeral_texts(sf_bot)
        )
    )
    assert not sf_bot.fake.open_views(RUN_CALLBACK)  # nothing asked before it is counted
    click(sf_bot, channel, recover, "step.run", "count-failed")
    assert wait_settled(sf_bot, "provider-outage", "count-failed").result == "12 rows"
    click(sf_bot, channel, recover, "step.run", "resume-failed")
    view, response = submit_run_modal(sf_bot, {})
    preview = json.dumps(view["blocks"], ensure_ascii=False)
    assert (
        "It will touch what “Failed executions to resume” counted between 13:00 and 14:00 UTC: 12, counted at "
        "14:00 UTC. It runs over that same window (count again first for a later one)."
    ) in preview
    assert "This changes the org. It will run:" in preview
    assert "Datetime since = Datetime.newInstanceGmt(2026, 11, 25, 13, 0, 0);" in preview
    assert "Datetime until = Datetime.newInstanceGmt(2026, 11, 25, 14, 0, 0);" in preview
    assert "PipelineQueueable.resume(r.ExecutionId__c);" in preview
    assert response.text == ""
    done = wait_settled(sf_bot, "provider-outage", "resume-failed")
    assert done.result == "The Apex compiled and ran."
    resumed = [r for r in fake_org.rows("PipelineExecution__c") if r["Status__c"] == "Queued"]
    assert len(resumed) == 12  # the failures of the last hour, no older ones


def test_config_refresh_apex(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = declare(sf_bot)
    run_playbook_step(sf_bot, channel, "cache-wedge", "contain", "refresh-config")
    submit_run_modal(sf_bot, {})
    wait_settled(sf_bot, "cache-wedge", "refresh-config")
    assert fake_org.refreshes == 1 and fake_org.apex == ["FMConfig.refresh();"]


def test_destructive_apex_is_never_run_on_one_click(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = declare(sf_bot)
    recover = open_phase(sf_bot, channel, "cache-wedge", "recover")
    click(sf_bot, channel, recover, "step.run", "clear-cache")
    sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views("switch.request"))  # it asks for approval instead
    assert fake_org.apex == [] and state(sf_bot, "cache-wedge", "clear-cache").status.value == "pending"


def test_telemetry_trigger_check_publish_and_landing(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = declare(sf_bot)
    run_playbook_step(sf_bot, channel, "telemetry", "discovery", "trigger-active")
    assert wait_settled(sf_bot, "telemetry", "trigger-active").result == "1 row"
    assert fake_org.calls_to(r"/tooling/query")
    assert "FlowMasonRunSubscriber  Active" in text_of(results_posted(sf_bot, channel, "FlowMasonRunSubscriber"))

    click(sf_bot, channel, message(sf_bot, channel, "telemetry/discovery"), "phase.next")
    diagnose = message(sf_bot, channel, "telemetry/diagnose")
    click(sf_bot, channel, diagnose, "step.run", "test-publish")
    view, _ = submit_run_modal(sf_bot, {})
    assert "EventBus.publish(new FlowMasonRun__e(" in json.dumps(view["blocks"])
    published = wait_settled(sf_bot, "telemetry", "test-publish")
    assert published.status.value == "done" and "OPERATION_ENQUEUED" in published.result
    assert fake_org.events == [
        {"Action__c": "incident_test", "Actor_Id__c": BOT_USER_ID, "Pipeline_Id__c": "test", "Detail__c": ""}
    ]
    click(sf_bot, channel, diagnose, "step.run", "test-row-arrived")
    assert wait_settled(sf_bot, "telemetry", "test-row-arrived").result == "1 row"


def test_a_querys_result_is_filed_as_a_query_in_the_timeline(sf_bot: RunningBot) -> None:
    declare(sf_bot)
    wait_settled(sf_bot, "first-five", "snapshot-audit")
    wait_settled(sf_bot, "first-five", "confirm-scope")
    filed = {entry.text.split("”")[0].lstrip("“"): entry.kind for entry in sf_bot.services.timeline.entries(1)}
    assert filed["Snapshot state: audit actions, last hour"] is EntryKind.QUERY  # a query, with its rows
    assert filed["Confirm scope"] is EntryKind.STEP  # another kind's result stays a step


@pytest.mark.parametrize(
    ("kind", "sentence"),
    [
        ("timeout", "Salesforce did not answer the query within 2 seconds."),
        ("503", "Salesforce answered HTTP 503 to the query."),
        ("limit", "The org's API request limit is exceeded (REQUEST_LIMIT_EXCEEDED)."),
    ],
)
def test_faults_fail_the_step_with_a_sentence_and_a_retry(
    sf_bot: RunningBot, fake_org: FakeSalesforce, kind: str, sentence: str
) -> None:
    channel = declare(sf_bot)
    wait_settled(sf_bot, "first-five", "snapshot-audit")
    fake_org.inject(r"/query", kind)
    checklist = message(sf_bot, channel, "first-five")
    click(sf_bot, channel, checklist, "step.run", "confirm-scope")
    sf_bot.wait_quiet()  # the click's work is done (the step was done before it: Run again)
    failed = wait_settled(sf_bot, "first-five", "confirm-scope")
    sentence = f"Pipeline executions: {sentence}"  # the series whose query failed
    assert (failed.status.value, failed.error) == ("failed", sentence)
    sf_bot.fake.wait_until(lambda: "Retry" in text_of(checklist))
    assert f"Failed at 14:00: {sentence}" in text_of(checklist)
    entries = [e.text for e in sf_bot.services.timeline.entries(1) if e.kind is EntryKind.STEP]
    assert f"“Confirm scope” failed: {sentence}" in entries

    click(sf_bot, channel, checklist, "step.run", "confirm-scope")  # Retry
    sf_bot.fake.wait_until(lambda: state(sf_bot, "first-five", "confirm-scope").status.value == "done")


def literal_runbook_playbooks(tmp_path: Path) -> Path:
    directory = tmp_path / "literal-playbooks"
    shutil.copytree(BUNDLED_PLAYBOOKS, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    first_five = directory / "first-five-minutes.yaml"
    first_five.write_text(
        first_five.read_text().replace(
            "SELECT Status__c, COUNT(Id) c FROM PipelineExecution__c",
            "SELECT Id, Status__c, COUNT(Id) c FROM PipelineExecution__c",
        )
    )
    return directory


def test_a_return_to_the_runbooks_literal_query_fails(
    bot_factory: Any, fake_org: FakeSalesforce, tmp_path: Path
) -> None:
    bot = bot_factory(**jwt_settings(fake_org), playbooks_dir=literal_runbook_playbooks(tmp_path))
    declare(bot)
    failed = wait_settled(bot, "first-five", "snapshot-executions")
    assert failed.error == "Salesforce refused the query: MALFORMED_QUERY: Field must be grouped or aggregated: Id."


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        (
            "SELECT Id, Status__c, COUNT(Id) c FROM PipelineExecution__c "
            "WHERE LastModifiedDate >= 2026-11-25T13:00:00Z GROUP BY Status__c",
            "MALFORMED_QUERY",
        ),
        (
            "SELECT Action__c, COUNT(Id) c FROM FM_Run_Audit__c WHERE CreatedDate = LAST_N_HOURS:1 GROUP BY Action__c",
            "MALFORMED_QUERY",
        ),
        (
            "SELECT Actor_Id__c, Detail__c, CreatedDate FROM FM_Run_Audit__c WHERE Action__c LIKE 'org_chat%' "
            "AND Detail__c LIKE '%LIMIT 9999%'",
            "INVALID_FIELD",
        ),
        ("SELECT Diff_Json__c, COUNT(Id) c FROM FM_Org_Chat_Dml_Audit__c GROUP BY Diff_Json__c", "INVALID_FIELD"),
    ],
)
def test_the_fake_org_refuses_what_a_real_org_refuses(fake_org: FakeSalesforce, soql: str, code: str) -> None:
    with pytest.raises(SalesforceError, match=f"Salesforce refused the query: {code}"):
        jwt_gateway(fake_org).query(soql)


def gateway(org: FakeSalesforce, **credentials: Any) -> SalesforceGateway:
    return SalesforceGateway(Credentials(domain=org.url, api_version="62.0", **credentials), timeout=5)


def test_each_login_mode_and_a_renewed_session(fake_org: FakeSalesforce) -> None:
    modes = [
        gateway(
            fake_org,
            mode="jwt",
            username=USERNAME,
            consumer_key=CONSUMER_KEY,
            private_key=fake_org.private_key_file.read_text(),
        ),
        gateway(
            fake_org,
            mode="password",
            username=USERNAME,
            password=PASSWORD,
            security_token=SECURITY_TOKEN,
            consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET,
        ),
        gateway(fake_org, mode="password", username=USERNAME, password=PASSWORD, security_token=SECURITY_TOKEN),
        gateway(fake_org, mode="token", instance_url=fake_org.url, access_token=fake_org.issue_token()),
    ]
    for mode in modes:
        assert mode.query("SELECT COUNT(Id) c FROM FM_Circuit_Queue__c").records == [{"c": 37}]
        assert mode.user_id == BOT_USER_ID
    logins = fake_org.logins
    fake_org.inject(r"/query", "expire")
    assert modes[0].query("SELECT COUNT(Id) c FROM FM_Circuit_Queue__c").records == [{"c": 37}]
    assert fake_org.logins == logins + 1  # renewed once, then the call retried once


def test_a_persistent_401_is_not_retried_forever(fake_org: FakeSalesforce) -> None:
    jwt = jwt_gateway(fake_org)
    jwt.query("SELECT COUNT(Id) c FROM FM_Circuit_Queue__c")
    fake_org.inject(r"sobjects", "expire", times=100)
    before = len(fake_org.calls)
    with pytest.raises(SalesforceError, match=r"^The Salesforce session expired\.$"):
        jwt.create("FlowMasonRun__e", {"Action__c": "x"})
    assert len(fake_org.calls) - before == 3  # the create, one login, the create again


def test_a_metadata_api_answer_that_is_not_the_orgs_is_no_answer_and_its_limit_is_a_refusal(
    fake_org: FakeSalesforce,
) -> None:
    """A 503 page from a proxy or Salesforce's edge is not the org saying no: an update it answered may have
    been applied (zeep alone calls it an "Unknown fault", which read as refused, and crashed on a JSON body)."""
    jwt = jwt_gateway(fake_org)
    fake_org.inject(r"/Soap/m/", "503")
    with pytest.raises(SalesforceNoAnswer, match=r"^Salesforce answered HTTP 503 to the read of FM_Config\.Default\.$"):
        jwt.read_custom_metadata("FM_Config.Default")
    fake_org.inject(r"/Soap/m/", "503", skip=1)  # the update's own read answers, the update gets the page
    with pytest.raises(SalesforceNoAnswer, match=r"^Salesforce answered HTTP 503 to the update of FM_Config"):
        jwt.update_custom_metadata("FM_Config.Default", {"orgChatDmlEnabled__c": False})
    fake_org.inject(r"/Soap/m/", "limit")
    with pytest.raises(
        SalesforceRefused, match=r"^The org's API request limit is exceeded \(REQUEST_LIMIT_EXCEEDED\)\.$"
    ):
        jwt.read_custom_metadata("FM_Config.Default")
    fake_org.inject(r"/Soap/m/", "403")
    with pytest.raises(
        SalesforceRefused, match=r"^The Metadata API refused the read of FM_Config\.Default: HTTP 403\.$"
    ):
        jwt.read_custom_metadata("FM_Config.Default")
    assert jwt.read_custom_metadata("FM_Config.Default")["orgChatDmlEnabled__c"] is True


def test_wrong_password_and_refused_jwt_are_sentences(fake_org: FakeSalesforce, tmp_path: Path) -> None:
    wrong = gateway(fake_org, mode="password", username=USERNAME, password="nope")
    with pytest.raises(SalesforceError, match=r"^Salesforce refused the login: INVALID_LOGIN: Invalid username"):
        wrong.query("SELECT COUNT(Id) c FROM FM_Circuit_Queue__c")
    fake_org.inject("oauth2/token", "refuse_login")
    refused = gateway(
        fake_org,
        mode="jwt",
        username=USERNAME,
        consumer_key=CONSUMER_KEY,
        private_key=fake_org.private_key_file.read_text(),
    )
    with pytest.raises(SalesforceError, match=r"^Salesforce refused the login: user hasn't approved\.$"):
        refused.query("SELECT COUNT(Id) c FROM FM_Circuit_Queue__c")


def test_expired_credentials_that_cannot_be_renewed(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(
        salesforce_instance_url=fake_org.url,
        salesforce_access_token=fake_org.issue_token(),
        salesforce_timeout_seconds=2.0,
    )
    channel = declare(bot)
    wait_settled(bot, "first-five", "snapshot-audit")
    fake_org.inject(r"/query", "expire")
    click(bot, channel, message(bot, channel, "first-five"), "step.run", "confirm-scope")
    failed = wait_settled(bot, "first-five", "confirm-scope")
    assert failed.error == (
        "Pipeline executions: The Salesforce access token has expired and cannot be renewed: set a new "
        "SALESFORCE_ACCESS_TOKEN, or use JWT or password login."
    )


def test_login_urls_for_sandboxes_and_my_domain() -> None:
    from bot.adapters.salesforce.login import jwt_audience, login_url

    assert login_url("login") == "https://login.salesforce.com"
    assert login_url("test") == "https://test.salesforce.com"
    assert login_url("acme.my") == "https://acme.my.salesforce.com"
    assert login_url("acme--uat.sandbox.my.salesforce.com") == "https://acme--uat.sandbox.my.salesforce.com"
    assert jwt_audience("acme--uat.sandbox.my") == "https://test.salesforce.com"
    assert jwt_audience("acme.my") == "https://login.salesforce.com"


def test_a_step_that_left_the_runbook_is_refused(sf_bot: RunningBot) -> None:
    channel = declare(sf_bot)
    checklist = message(sf_bot, channel, "first-five")
    sf_bot.slack.click(
        "step.run",
        '{"incident":1,"scope":"first-five","step":"gone-step"}',
        channel_id=channel.id,
        message_ts=checklist["ts"],
    )
    sf_bot.fake.wait_until(lambda: any("no longer in the runbook" in t for t in ephemeral_texts(sf_bot)))
