"""The runbook, true to the letter and to a real org: Playbook 1 in its order with its lever, queries that show
data where the runbook says what to look for, and the smaller truths; driven over HTTP against the fake org."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

from bot.render.switches import REQUEST_CALLBACK
from tests.conftest import RunningBot, jwt_settings
from tests.driver import (
    CAROL,
    approve,
    click,
    decide,
    ephemeral_texts,
    incident_channel,
    open_phase,
    request_revert,
    text_of,
    wait_card,
    wait_settled,
)
from tests.fakes.salesforce import SUSPECT_USER_ID, FakeSalesforce
from tests.fakes.slack import Channel

NAMED = "anthropic=Anthropic_API,openai=OpenAI_API"


def form_value(view: dict[str, Any], block_id: str) -> Any:
    element = next(b for b in view["blocks"] if b.get("block_id") == block_id)["element"]
    return element.get("initial_value") or (element.get("initial_option") or {}).get("value")


def diagnosed(bot: RunningBot) -> Channel:
    """Playbook 1 started; its diagnose queries run: Anthropic failing, OpenAI working."""
    channel = incident_channel(bot, "declare --llm sev2 Anthropic 5xx on all pipelines")
    diagnose = open_phase(bot, channel, "provider-outage", "diagnose")
    for step in ("failing-providers", "working-providers"):
        click(bot, channel, diagnose, "step.run", step)
        wait_settled(bot, "provider-outage", step)
    return channel


def requested_from_step(bot: RunningBot, channel: Channel, step: str, values: dict[str, str]) -> tuple[str, Any]:
    contain = open_phase(bot, channel, "provider-outage", "contain")
    before = len(bot.fake.open_views(REQUEST_CALLBACK))
    click(bot, channel, contain, "step.run", step)
    view = bot.fake.wait_until(
        lambda: len(bot.fake.open_views(REQUEST_CALLBACK)) > before and bot.fake.open_views(REQUEST_CALLBACK)[-1]
    )
    return view, bot.slack.submit(view, {"reason": "Anthropic is down", **values})


def test_the_data_names_the_dead_provider_and_the_fallback_is_a_verified_request(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(**jwt_settings(fake_org), provider_named_credentials=NAMED)
    channel = diagnosed(bot)
    assert bot.services.walkthrough.steps.parameters(1) == {"provider": "anthropic", "fallback_provider": "openai"}

    view, _ = requested_from_step(bot, channel, "fallback-chain", {})
    assert form_value(view, "value") == "openai"  # the provider that works, not the dead one (it had more earlier)
    approval, card = wait_card(bot, channel)
    assert "FM_Config.Default: defaultProvider__c = openai" in text_of(card)
    approve(bot, channel, card, approval)
    bot.run_jobs()
    assert fake_org.metadata["FM_Config.Default"]["defaultProvider__c"] == "openai"
    assert "*Verified*: read back defaultProvider__c = openai" in text_of(card)
    assert "Prior: defaultProvider__c was 'anthropic'" in text_of(card)
    assert "switch.revert" in text_of(card)  # revertible, with two people again

    view, _ = requested_from_step(bot, channel, "disable-provider", {})
    assert form_value(view, "named_credential") == "Anthropic_API"


def test_a_typed_fallback_value_is_checked_under_its_field(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    channel = incident_channel(bot)
    _, answer = requested_from_step(bot, channel, "fallback-chain", {"value": "open ai; DROP"})
    assert answer.json()["errors"] == {
        "value": "Give the value as the field holds it: letters, digits and _ . : - only (a chain: names separated "
        "by commas), at most 80."
    }


def test_a_fallback_chain_is_sent_read_back_and_reverted_whole(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    channel = incident_channel(bot)
    for wrong in ("openai,,bedrock", "openai;bedrock", "openai,", "a" * 81):
        _, answer = requested_from_step(bot, channel, "fallback-chain", {"value": wrong})
        assert "value" in answer.json()["errors"], wrong
    requested_from_step(bot, channel, "fallback-chain", {"value": "openai, bedrock"})
    approval, card = wait_card(bot, channel)
    assert "FM_Config.Default: defaultProvider__c = openai, bedrock" in text_of(card)
    approve(bot, channel, card, approval)
    bot.run_jobs()
    assert fake_org.metadata["FM_Config.Default"]["defaultProvider__c"] == "openai, bedrock"  # as typed
    assert "*Verified*: read back defaultProvider__c = openai, bedrock" in text_of(card)
    revert_id, revert_card = request_revert(bot, channel, card, "Anthropic is back")
    decide(bot, channel, revert_card, revert_id, CAROL)
    bot.fake.wait_until(lambda: "Approved by <@U0CAROL01>" in text_of(revert_card))  # decided after the ack
    bot.run_jobs()
    assert fake_org.metadata["FM_Config.Default"]["defaultProvider__c"] == "anthropic"
    assert "*Verified*: read back defaultProvider__c = anthropic" in text_of(revert_card)


def test_resume_is_counted_first_and_refused_while_the_provider_is_switched_off(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(**jwt_settings(fake_org), provider_named_credentials=NAMED)
    channel = diagnosed(bot)
    _, _ = requested_from_step(bot, channel, "disable-provider", {"named_credential": "Anthropic_API"})
    approval, card = wait_card(bot, channel)
    approve(bot, channel, card, approval)
    bot.run_jobs()
    fake_org.set_callout_status("Anthropic_API", "Disabled")
    bot.clock.advance(seconds=15)
    bot.run_due_jobs()
    assert "*Verified*" in text_of(card)

    recover = open_phase(bot, channel, "provider-outage", "recover")
    click(bot, channel, recover, "step.run", "count-failed")
    wait_settled(bot, "provider-outage", "count-failed")
    click(bot, channel, recover, "step.run", "resume-failed")
    refusal = (
        "“Deactivate a provider's Named Credential” on Anthropic_API is in effect in INC-1: “Resume executions that "
        "failed in the last hour” now would send work where it was switched off. Revert the switch from its request "
        "card when that is safe, then run this."
    )
    bot.fake.wait_until(lambda: refusal in ephemeral_texts(bot))
    assert fake_org.apex == []

    # the provider is back: the switch is reverted (two people, a person ticks the box, the bot sees it)
    revert, revert_card = request_revert(bot, channel, card, "Anthropic is green again")
    decide(bot, channel, revert_card, revert, CAROL)  # Bob asked for the revert: a second person approves
    bot.fake.wait_until(lambda: "Approved by <@U0CAROL01>" in text_of(revert_card))
    bot.run_jobs()
    fake_org.set_callout_status("Anthropic_API", "Enabled")
    bot.clock.advance(seconds=15)
    bot.run_due_jobs()
    assert "*Verified*" in text_of(revert_card)
    bot.clock.advance(minutes=20)  # the count (14:00:15) is 20 minutes old: the resume touches what it counted
    click(bot, channel, recover, "step.run", "resume-failed")
    view = bot.fake.wait_until(lambda: bot.fake.open_views("step.run"))[-1]
    confirmation = json.dumps(view)
    assert "counted between 13:00 and 14:00 UTC: " in confirmation and "It runs over that same window" in confirmation
    assert bot.slack.submit(view, {}).text == ""
    wait_settled(bot, "provider-outage", "resume-failed")
    assert len(fake_org.apex) == 1 and "PipelineQueueable.resume" in fake_org.apex[0]
    assert "Datetime since = Datetime.newInstanceGmt(2026, 11, 25, 13, 0, 15)" in fake_org.apex[0]
    assert "Datetime until = Datetime.newInstanceGmt(2026, 11, 25, 14, 0, 15)" in fake_org.apex[0]


def test_the_forensic_query_exports_every_actor_up_to_the_limit_and_says_where_it_cut(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    rows = fake_org.rows("FM_Org_Chat_Dml_Audit__c")
    for index in range(12_431):  # seven days of DML by 40 actors, one row every 48 seconds
        rows.append(
            {
                "Id": f"a0D{index:015d}",
                "Actor_Id__c": f"005{index % 40:012d}",
                "Operation__c": "update",
                "Sobject_Type__c": "Contact",
                "Record_Count__c": 1,
                "Diff_Json__c": '{"Email": ["a@x.test", "b@x.test"]}',
                "Filter_Used__c": "Id = '003…'",
                "CreatedDate": fake_org.now - timedelta(seconds=48 * index),
            }
        )
    channel = incident_channel(bot, "declare --private sev1 DML nobody asked for")
    recover = open_phase(bot, channel, "prompt-injection", "recover")
    click(bot, channel, recover, "step.choose:dml-not-legitimate", "finding")
    bot.fake.wait_until(lambda: "Forensic query to bound the damage" in text_of(recover))
    click(bot, channel, recover, "step.run", "bound-damage")
    done = wait_settled(bot, "prompt-injection", "bound-damage")

    in_week = sum(1 for r in rows if r["CreatedDate"] >= fake_org.now.replace(hour=0, minute=0) - timedelta(days=7))
    assert in_week > 10_000 and done.result == f"{in_week} rows"
    exported = bot.fake.wait_until(
        lambda: [f for f in bot.fake.files.values() if "bound-damage" in f["name"] and f["title"]]
    )[0]
    table = list(csv.DictReader(io.StringIO(exported["content"].decode())))
    assert len(table) == 10_000 and exported["title"].endswith(f"(first 10,000 of {in_week:,} rows)")
    assert {f"005{n:012d}" for n in range(40)} <= {r["Actor_Id__c"] for r in table}  # every actor, not one suspect
    assert table[0]["Diff_Json__c"] == '{"Email": ["a@x.test", "b@x.test"]}'
    pages = [path for _, path in fake_org.calls_to(r"/query/01g")]
    assert len(pages) == 4  # 2,000 a page: the first page and four more make 10,000; the rest is not fetched


def test_playbook_4_shows_the_numbers_of_its_four_indicators(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    channel = incident_channel(bot, "declare --private sev1 Suspected exfiltration")
    discovery = open_phase(bot, channel, "prompt-injection", "discovery")
    results = {}
    for step in ("limit-near-max", "new-sobjects", "rejections-by-user", "dml-by-sobject"):
        click(bot, channel, discovery, "step.run", step)
        assert wait_settled(bot, "prompt-injection", step).status.value == "done"
        stored = bot.services.walkthrough.steps.result(1, f"prompt-injection/{step}")
        assert stored is not None
        results[step] = stored.rows

    assert [r["Detail__c"] for r in results["limit-near-max"]] == [
        "SELECT Id, Email FROM Contact LIMIT 9999",
        "SELECT Id FROM Opportunity LIMIT 9999",
    ]  # LIMIT 10 is not near the maximum, and the Case turn of 7 hours ago is outside the window
    new = {(r["Actor_Id__c"], r["value"]) for r in results["new-sobjects"]}
    assert (SUSPECT_USER_ID, "Contact") in new and (SUSPECT_USER_ID, "Opportunity") not in new  # queried 10 days ago
    assert {
        "Actor_Id__c": SUSPECT_USER_ID,
        "Error_Code__c": "SOQL_VALIDATOR_REJECTED",
        "c": 3,
    } in results["rejections-by-user"]
    assert results["dml-by-sobject"][0] == {
        "Actor_Id__c": SUSPECT_USER_ID,
        "Sobject_Type__c": "Contact",
        "Operation__c": "update",
        "c": 2,
    }


def test_the_looping_pipeline_and_the_climbing_queue_show_in_numbers(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    channel = incident_channel(bot, "declare --llm sev2 429 storm")
    diagnose = open_phase(bot, channel, "rate-limit-storm", "diagnose")
    click(bot, channel, diagnose, "step.choose:looping-pipeline", "storm-source")
    bot.fake.wait_until(lambda: "Rate-limit errors by pipeline" in text_of(diagnose))
    click(bot, channel, diagnose, "step.run", "rate-limit-by-pipeline")
    assert wait_settled(bot, "rate-limit-storm", "rate-limit-by-pipeline").result == (
        "PL-ENRICH-LEADS 20 · PL-SUMMARISE-CASES 2"
    )

    bot.slack.command("playbook circuit-breaker", channel_id=channel.id)
    discovery = open_phase(bot, channel, "circuit-breaker", "discovery")
    click(bot, channel, discovery, "step.run", "queue-depth")
    wait_settled(bot, "circuit-breaker", "queue-depth")
    stored = bot.services.walkthrough.steps.result(1, "circuit-breaker/queue-depth")
    assert stored is not None
    assert [(r["h"], r["c"]) for r in stored.rows] == [(9, 3), (11, 8), (13, 26)]  # climbing, hour by hour (UTC)
