"""Evidence over HTTP: the probes on declare rank the picker, the severity matrix is measured, `/incident probe`
runs them again, and earlier incidents come back as related; against the fake Slack and the fake org."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.core.evidence import Finding, Status
from bot.core.severity import Severity
from bot.core.timeline import EntryKind
from bot.core.walkthrough import SCAN_LIMIT
from tests.conftest import RunningBot, jwt_settings
from tests.driver import (
    ALICE,
    BOB,
    approve,
    buttons,
    click,
    declare,
    ephemeral_texts,
    measured_before,
    message,
    open_phase,
    request,
    text_of,
)
from tests.fakes.salesforce import STORM_USER_ID, FakeSalesforce, seed_busy_org_chat, seed_rate_limit_storm
from tests.fakes.slack import Channel

STORM = "declare sev3 Enrichment pipelines failing"


def posted(bot: RunningBot, channel: Channel, text: str) -> dict[str, Any]:
    return bot.fake.wait_until(  # type: ignore[no-any-return]
        lambda: next((m for m in channel.messages.values() if text in text_of(m)), None)
    )


def picker_text(bot: RunningBot, channel: Channel) -> str:
    picker = message(bot, channel, "picker")
    bot.fake.wait_until(lambda: "What the org shows" in text_of(picker))
    return text_of(picker)


def number_of(bot: RunningBot, channel: Channel) -> int:
    incident = bot.services.incidents.in_channel(channel.id)
    assert incident is not None
    return incident.number


def test_a_rate_limit_storm_ranks_playbook_2_first_with_its_evidence_and_measures_the_severity(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    fake_org.seed(seed_rate_limit_storm(fake_org.now))
    measured_before(sf_bot)  # the worker counted the circuit queue an hour ago
    channel = declare(sf_bot, STORM)
    text = picker_text(sf_bot, channel)
    probed = sf_bot.services.evidence.store.get(1)
    assert probed is not None and probed.done and probed.probes == 7
    assert not [f for f in probed.findings if f.status is Status.NO_DATA]  # every probe answered within the budget

    evidence = text.split("What the org shows")[1]
    first = evidence.split("\\n")[1]
    assert first == (
        f":large_orange_diamond: *2. Rate-limit storm* · 412 `RATE_LIMIT` errors in the last hour, 380 from one "
        f"user ({STORM_USER_ID}) (threshold: 20 or more; the bot's default, probe `rate-limit-errors` in playbooks/)"
    )
    assert "Checked, no evidence: 1. Provider outage, 4. Suspected prompt injection / data exfil, " in evidence
    assert "6. Circuit-breaker buffer fills, 7. Telemetry pipeline broken" in evidence
    assert "Not probed (its symptoms are not in data the bot reads): 3. Cache wedge / stale state, 5. " in evidence
    picker = message(sf_bot, channel, "picker")
    starts = [e["text"]["text"] for e in buttons(picker) if e["type"] == "button"]
    assert starts == ["Start 2. Rate-limit storm"]  # the evidence's, before the menu
    menu = next(e for e in buttons(picker) if e["type"] == "static_select")
    assert [o["text"]["text"][:2] for o in menu["options"]] == ["2.", "1.", "4.", "6.", "7.", "3.", "5."]

    # the rows behind the evidence: a reply under the picker, linked from it
    rows = posted(sf_bot, channel, "What each probe found")
    assert rows["thread_ts"] == picker["ts"]
    assert f"https://fake.slack.com/archives/{channel.id}/p{rows['ts'].replace('.', '')}|the rows>" in text
    assert STORM_USER_ID in text_of(rows) and "380" in text_of(rows)
    assert (
        "*Not measured by any probe* (look for these yourself):\\n*1. Provider outage*: All LLM stages return "
        "errors; `__meta.providerAttempts` climbing\\n*2. Rate-limit storm*: Per-user "
        "`orgChatMaxTurnsPerMinutePerUser` rejections climbing"
    ) in json.dumps(rows["blocks"], ensure_ascii=False)

    # the matrix's words as data: 38% failed, which is SEV-2; declared SEV-3; a button, never a change
    said = (
        "Measured: 38% of pipeline executions failed in the last hour (160 of 421). The severity matrix's SEV-2 "
        "includes \u201csustained errors > 10%\u201d; the bot counts 10% or more failing as that. INC-1 is "
        "declared SEV-3."
    )
    shown = said.replace(">", "&gt;")  # mrkdwn, escaped
    suggestion = posted(sf_bot, channel, shown)
    assert sf_bot.services.incidents.get(1).severity is Severity.SEV3
    entries = sf_bot.services.timeline.entries(1)
    assert said in [e.text for e in entries if e.kind is EntryKind.SEVERITY]
    found = [e.text for e in entries if e.kind is EntryKind.EVIDENCE]
    assert (
        f"Playbook 2 · 412 `RATE_LIMIT` errors in the last hour, 380 from one user ({STORM_USER_ID}) (threshold: 20 "
        "or more; the bot's default, probe `rate-limit-errors` in playbooks/)"
    ) in found
    assert "Probes: 7 run, 2 with evidence, 5 found nothing, 0 no data" in found

    assert [e["text"]["text"] for e in buttons(suggestion)] == ["Raise to SEV-2", "Keep SEV-3"]
    click(sf_bot, channel, suggestion, "severity.answer")
    sf_bot.fake.wait_until(lambda: sf_bot.services.incidents.get(1).severity is Severity.SEV2)
    chosen = [(e.text, e.actor) for e in sf_bot.services.timeline.entries(1) if e.kind is EntryKind.SEVERITY]
    assert chosen[-1] == ("Severity SEV-3 → SEV-2", ALICE)
    sf_bot.fake.wait_until(lambda: "Raised to SEV-2 by <@U0ALICE01> at 14:00" in text_of(suggestion))
    assert not buttons(suggestion) and shown in text_of(suggestion)  # answered: the numbers stay, the buttons go

    # into the post-mortem's Detection
    sf_bot.slack.command("postmortem", channel_id=channel.id)
    draft = sf_bot.fake.wait_until(lambda: next(iter(sf_bot.fake.canvases.values()), None))
    detection = draft["markdown"].split("## 3. Detection")[1].split("## 4.")[0]
    assert (
        "| Playbook 2. Rate-limit storm | Vendor returns 429 repeatedly | evidence | 412 \\`RATE_LIMIT\\` errors"
        in detection
    )
    assert "| Measured | Pipeline executions failing | evidence | 38% of pipeline executions failed" in detection


def test_a_severity_with_grounds_the_bot_does_not_measure_is_never_offered_lower(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """SEV-1 declared for a suspected exfiltration; the org shows 38% failing, which meets SEV-2's share but says
    nothing about exfiltration: no "Lower to SEV-2", on the channel or the timeline."""
    fake_org.seed(seed_rate_limit_storm(fake_org.now))
    channel = declare(sf_bot, "declare sev1 Exfiltration suspected through Org Chat")
    sf_bot.fake.wait_until(lambda: any(e.text.startswith("Probes: 7 run") for e in sf_bot.services.timeline.entries(1)))
    picker_text(sf_bot, channel)
    sf_bot.wait_quiet()
    assert not [e.text for e in sf_bot.services.timeline.entries(1) if e.kind is EntryKind.SEVERITY]
    assert not [m for m in channel.messages.values() if "Measured:" in text_of(m) or "Lower to" in json.dumps(m)]


def test_keeping_the_declared_severity_is_an_answer_on_the_timeline(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    fake_org.seed(seed_rate_limit_storm(fake_org.now))
    channel = declare(sf_bot, "declare sev4 Enrichment is slow")
    suggestion = posted(sf_bot, channel, "more failing as that. INC-1 is declared SEV-4.")
    keep = next(e for e in buttons(suggestion) if e["text"]["text"] == "Keep SEV-4")
    channel.members.add(BOB)
    sf_bot.slack.click(keep["action_id"], keep["value"], user=BOB, channel_id=channel.id, message_ts=suggestion["ts"])
    sf_bot.fake.wait_until(lambda: "Kept SEV-4 by <@U0BOB0001> at 14:00" in text_of(suggestion))
    assert sf_bot.services.incidents.get(1).severity is Severity.SEV4
    entries = [(e.text, e.actor) for e in sf_bot.services.timeline.entries(1) if e.kind is EntryKind.SEVERITY]
    assert entries[-1] == ("Kept SEV-4 (the measurement suggested SEV-2)", BOB)


def test_a_probe_that_does_not_answer_within_the_budget_is_no_data_never_healthy(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    from tests.conftest import jwt_settings

    bot = bot_factory(**{**jwt_settings(fake_org), "salesforce_timeout_seconds": 3.0}, probe_budget_seconds=1.0)
    fake_org.inject(r"FM_Circuit_Queue__c", "timeout")  # the circuit queue's probe never answers
    channel = declare(bot, STORM)
    text = picker_text(bot, channel)
    assert "No data (not healthy: no answer, or not all read): 6. Circuit-breaker buffer fills" in text
    probed = bot.services.evidence.store.get(1)
    assert probed is not None
    missing = [f for f in probed.findings if f.status is Status.NO_DATA]
    assert [(f.probe, f.line) for f in missing] == [("circuit-queue-rising", "no data: no answer within 1 s")]
    assert "Probes: 7 run, 5 with evidence, 1 found nothing, 1 no data" in [
        e.text for e in bot.services.timeline.entries(1) if e.kind is EntryKind.EVIDENCE
    ]


def test_probe_runs_again_and_reranks_after_the_org_changed(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = declare(sf_bot, STORM)  # the usual org: a little of everything
    before = sf_bot.services.evidence.store.get(1)
    assert before is not None and "rate-limit-errors" in before.with_evidence()
    fake_org.seed(seed_rate_limit_storm(fake_org.now))
    queries = len(fake_org.calls_to("/query"))
    sf_bot.slack.command("probe", user=BOB, channel_id=channel.id)
    sf_bot.fake.wait_until(
        lambda: ":mag: Probing the org; the picker shows what comes back." in ephemeral_texts(sf_bot)
    )
    picker = message(sf_bot, channel, "picker")
    sf_bot.fake.wait_until(
        lambda: (
            (p := sf_bot.services.evidence.store.get(1)) is not None
            and p.rows_link != before.rows_link
            and "412 `RATE_LIMIT` errors" in text_of(picker)
        )
    )
    after = sf_bot.services.evidence.store.get(1)
    assert after is not None and after.with_evidence() == {"rate-limit-errors", "failure-share"}
    assert len(fake_org.calls_to("/query")) == queries + 7  # seven probes, one query each
    assert ("Probes run again", BOB) in [(e.text, e.actor) for e in sf_bot.services.timeline.entries(1)]


def test_a_filter_of_the_bots_reads_the_newest_rows_up_to_its_ceiling_and_says_what_it_did_not_read(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """`Detail__c` cannot be filtered in SOQL: the bot reads the newest 10,000 Org Chat turns and filters those. A
    huge LIMIT only in older turns is not *clear* but unread; one among the newest is evidence, as a lower bound."""
    fake_org.seed(seed_busy_org_chat(fake_org.now, SCAN_LIMIT + 50, huge=(SCAN_LIMIT + 20,)))
    channel = declare(sf_bot, STORM)
    picker_text(sf_bot, channel)
    probed = sf_bot.services.evidence.store.get(1)
    assert probed is not None
    limits = next(f for f in probed.findings if f.probe == "near-max-limits")
    unread = "the bot filtered the newest 10,000 rows the org matched (its read ceiling); 53 older ones were not read"
    assert (limits.status, limits.line) == (Status.NO_DATA, f"0 in the last 6 h: {unread}, so not clear")
    assert "No data (not healthy: no answer, or not all read): 4. Suspected prompt injection" in picker_text(
        sf_bot, channel
    )

    fake_org.seed(seed_busy_org_chat(fake_org.now, SCAN_LIMIT + 50, huge=(5, SCAN_LIMIT + 20)))
    sf_bot.slack.command("probe", user=BOB, channel_id=channel.id)
    sf_bot.fake.wait_until(
        lambda: "near-max-limits" in (sf_bot.services.evidence.store.get(1) or probed).with_evidence()
    )
    again = sf_bot.services.evidence.store.get(1)
    assert again is not None
    found = next(f for f in again.findings if f.probe == "near-max-limits")
    assert found.line == f"1 Org Chat turns asked for LIMIT 9,999 or more in the last 6 h (at least: {unread})"

    step = open_phase(sf_bot, channel, "prompt-injection", "discovery")
    click(sf_bot, channel, step, "step.run", "limit-near-max")
    shown = sf_bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if "Not all read:" in text_of(m)), None)
    )
    assert f"Not all read: {unread}." in text_of(shown)


def test_provider_failures_are_counted_by_the_operators_pattern_and_say_what_they_counted(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    """Playbook 1's "5xx / timeout in stage logs": the runbook names the fields, not their text. With the
    operator's pattern, a rate limit (HTTP 429) is not a provider failure; without it, every failed LLM stage
    counts, and the line says so."""
    for minute in (5, 6, 7):  # three rate limits: failed, but neither a 5xx nor a timeout
        fake_org.rows("Pipeline_Stage_Log__c").append(
            {
                "Id": f"a03{minute:015d}",
                "Stage_Type__c": "llm_openai",
                "Status__c": "Failed",
                "Provider_Response__c": "HTTP 429",
                "Error_Message__c": "rate limited",
                "Started_At__c": fake_org.now - timedelta(minutes=minute),
            }
        )
    patterned = bot_factory(**jwt_settings(fake_org), provider_failure_pattern=r"\bHTTP 5\d\d\b|timed? ?out")
    declare(patterned, "declare --llm sev2 Anthropic 5xx on all pipelines")
    found = patterned.fake.wait_until(lambda: finding(patterned, "failed-llm-stages"))
    assert found.line == (
        "3 failed LLM stages in the last hour, 3 of them llm_anthropic (counted: provider 5xx and timeouts, "
        "Provider_Response__c or Error_Message__c matching PROVIDER_FAILURE_PATTERN)"
    )
    unset = bot_factory(**jwt_settings(fake_org))
    declare(unset, "declare --llm sev2 Anthropic 5xx on all pipelines")
    everything = unset.fake.wait_until(lambda: finding(unset, "failed-llm-stages"))
    assert everything.line == (
        "6 failed LLM stages in the last hour, 3 of them llm_anthropic (counted: every one, provider 5xx and "
        "timeouts not told apart: PROVIDER_FAILURE_PATTERN is not set)"
    )


def finding(bot: RunningBot, probe: str) -> Finding | None:
    probed = bot.services.evidence.store.get(1)
    return next((f for f in probed.findings if f.probe == probe), None) if probed and probed.done else None


def test_a_queue_climbs_when_it_holds_more_than_the_bot_counted_an_hour_before(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """Playbook 6's "row count climbing": the queue's size now against the size the worker counted an hour ago.
    Without that count the probe is no data, never clear; with it, 30 more rows is evidence."""
    fake_org.seed(seed_rate_limit_storm(fake_org.now))  # two rows in the queue
    channel = declare(sf_bot, STORM)
    first = sf_bot.fake.wait_until(lambda: finding(sf_bot, "circuit-queue-rising"))
    no_data = "No data (not healthy: no answer, or not all read): 6. Circuit-breaker buffer fills"
    assert no_data in picker_text(sf_bot, channel)
    assert (first.status, first.line) == (
        Status.NO_DATA,
        "no data: 2 now, and no count the bot measured 60 min before to compare (the worker measures it every 15 min)",
    )
    measured_before(sf_bot)  # 2 rows an hour ago, counted by the worker's job
    sf_bot.services.sweep()
    assert sf_bot.services.scheduler.queue.count == 0  # one measurement per slot, whoever sweeps
    queue = fake_org.rows("FM_Circuit_Queue__c")
    queue += [{"Id": f"a05{n:015d}", "CreatedDate": fake_org.now - timedelta(minutes=n)} for n in range(30)]
    sf_bot.slack.command("probe", user=BOB, channel_id=channel.id)
    climbing = sf_bot.fake.wait_until(
        lambda: (f := finding(sf_bot, "circuit-queue-rising")) is not None and f.status is Status.EVIDENCE and f
    )
    assert climbing.line == "32 rows in the circuit buffer now, 30 more than at 13:00 UTC (2)"
    picker = message(sf_bot, channel, "picker")
    sf_bot.fake.wait_until(
        lambda: (
            "*6. Circuit-breaker buffer fills* · 32 rows in the circuit buffer now, 30 more than at 13:00 UTC"
            in text_of(picker)
        )
    )
    assert climbing.threshold == (
        "threshold: 10 or more than 60 min before; the bot's default, probe `circuit-queue-rising` in playbooks/"
    )


def test_without_salesforce_nothing_is_probed_and_probe_says_why(bot: RunningBot) -> None:
    channel = declare(bot, STORM)
    picker = message(bot, channel, "picker")
    assert "What the org shows" not in text_of(picker) and "Probing" not in text_of(picker)
    bot.slack.command("probe", channel_id=channel.id)
    sentence = "Salesforce is not connected, so the bot cannot probe the org: set it up (see README)."
    bot.fake.wait_until(lambda: sentence in ephemeral_texts(bot))


def test_a_second_incident_of_the_same_kind_lists_the_first_as_related(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    fake_org.seed(seed_rate_limit_storm(fake_org.now))
    first = declare(sf_bot, "declare sev2 Rate limit storm on enrichment", "inc-1-")
    first.members.update({BOB})
    sf_bot.slack.command("playbook 2", channel_id=first.id)
    message(sf_bot, first, "rate-limit-storm/discovery")
    approval, card = request(sf_bot, first, "org-chat-off")
    approve(sf_bot, first, card, approval)
    sf_bot.run_jobs()
    sf_bot.clock.advance(minutes=25)
    sf_bot.slack.command("mitigated", channel_id=first.id)
    sf_bot.fake.wait_until(lambda: sf_bot.services.incidents.get(1).mitigated_at is not None)
    secret = declare(sf_bot, "declare --private sev2 Rate limit storm from one account", "inc-2-")

    second = declare(sf_bot, "declare sev3 Enrichment 429s again", "inc-3-")
    seen = posted(sf_bot, second, "Seen before")
    line = text_of(seen)
    assert "*INC-1* SEV-2 · Rate limit storm on enrichment (2026-11-25) · mitigated in 25m" in line
    assert "same evidence: failure-share, rate-limit-errors" in line and f"no post-mortem (<#{first.id}>)" in line
    title = sf_bot.services.approvals.approvals.get(json.loads(approval)["request"])
    assert title is not None and title[0].title in line  # the kill switch it used
    assert "INC-2" not in line  # private: never in a channel message

    sf_bot.slack.command("playbook rate-limit-storm", channel_id=second.id)
    ran = posted(sf_bot, second, "Seen before: earlier incidents that ran 2. Rate-limit storm")
    assert "*INC-1*" in text_of(ran) and "same playbook: 2. Rate-limit storm" in text_of(ran)

    # on demand, to the person alone: a private incident only for the members of its channel
    sf_bot.slack.command("similar rate limit storm", user=ALICE)
    answer = sf_bot.fake.wait_until(
        lambda: [r for r in sf_bot.fake.responses if "Earlier incidents" in r.get("text", "")]
    )
    assert "*INC-2*" in json.dumps(answer[-1]) and "*INC-1*" in json.dumps(answer[-1])
    sf_bot.slack.command("similar rate limit storm", user="U0STRANGER")
    sf_bot.fake.wait_until(
        lambda: len([r for r in sf_bot.fake.responses if "Earlier incidents" in r.get("text", "")]) == 2
    )
    stranger = [r for r in sf_bot.fake.responses if "Earlier incidents" in r.get("text", "")][-1]
    assert "*INC-1*" in json.dumps(stranger) and "*INC-2*" not in json.dumps(stranger)
    assert secret.is_private


def test_similar_outside_an_incident_needs_text(bot: RunningBot) -> None:
    bot.slack.command("similar")
    sentence = "Say what to look for: `/incident similar Anthropic 529s` (or use it in an incident channel)."
    bot.fake.wait_until(lambda: sentence in ephemeral_texts(bot))
    bot.slack.command("similar nothing like it")
    bot.fake.wait_until(lambda: "No earlier incident looks like “nothing like it”." in ephemeral_texts(bot))
