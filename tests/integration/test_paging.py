"""Paging the on-call through PagerDuty and Opsgenie, for the whole life of an incident: driven over signed Slack
HTTP, with both pagers faked on loopback as their documentation describes them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bot.core.timeline import EntryKind
from bot.web import PAGERDUTY_WEBHOOK_PATH
from tests.conftest import RunningBot
from tests.driver import ALICE, declare, ephemeral_texts, message, resolve, text_of
from tests.fakes.pagers import OPSGENIE_KEY, ROUTING_KEY, FakeOpsgenie, FakePagerDuty

WEBHOOK_SECRET = "pagerduty-webhook-secret-0123456789"


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    fake = FakePagerDuty().start()
    yield fake
    fake.stop()


@pytest.fixture
def opsgenie() -> Iterator[FakeOpsgenie]:
    fake = FakeOpsgenie().start()
    yield fake
    fake.stop()


@pytest.fixture
def paged_bot(bot_factory: Any, pagerduty: FakePagerDuty) -> RunningBot:
    return bot_factory(  # type: ignore[no-any-return]
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=pagerduty.events_url,
        pagerduty_webhook_secret=WEBHOOK_SECRET,
        web_base_url="https://incidents.example.com",
    )


def key(bot: RunningBot, number: int = 1) -> str:
    return bot.services.paging.dedup_key(number)


def page_lines(bot: RunningBot, number: int = 1) -> list[str]:
    return [e.text for e in bot.services.timeline.entries(number) if e.kind is EntryKind.PAGE]


def test_a_sev1_pages_once_and_its_alert_follows_the_incident(paged_bot: RunningBot, pagerduty: FakePagerDuty) -> None:
    channel = declare(paged_bot, "declare sev1 Org Chat is down everywhere")
    assert paged_bot.run_jobs() == 0
    alert = pagerduty.alerts[key(paged_bot)]
    assert (alert.summary, alert.severity, alert.status) == (
        "[SEV-1] INC-1 Org Chat is down everywhere",
        "critical",
        "triggered",
    )
    assert alert.details["commander"] == ALICE and alert.details["response target"] == "2026-11-25T14:15:00+00:00"
    links = {link["text"]: link["href"] for link in alert.links}
    assert links == {
        "Slack channel": f"https://slack.com/app_redirect?channel={channel.id}&team=T0FAKE001",
        "Incident page": "https://incidents.example.com/incidents/1",
    }
    assert page_lines(paged_bot) == ["Paged the on-call through PagerDuty (declared SEV-1): Event processed"]
    paged_bot.fake.wait_until(
        lambda: any(
            ":pager: Paged the on-call through PagerDuty" in m.get("text", "") for m in channel.messages.values()
        )
    )
    header = message(paged_bot, channel, "header")
    paged_bot.fake.wait_until(lambda: ":pager: Paged through PagerDuty at 14:00" in text_of(header))

    paged_bot.slack.command("sev 2", channel_id=channel.id)  # an update of the same alert, never a second one
    paged_bot.slack.command("ack", channel_id=channel.id)
    paged_bot.wait_quiet()
    paged_bot.run_jobs()
    assert (alert.severity, alert.status, alert.triggers) == ("error", "acknowledged", 2)
    resolve(paged_bot, channel)
    paged_bot.run_jobs()
    assert alert.status == "resolved" and len(pagerduty.alerts) == 1
    assert [e["event_action"] for e in pagerduty.accepted] == ["trigger", "trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in pagerduty.accepted} == {key(paged_bot)}
    assert paged_bot.run_jobs() == 0 and len(pagerduty.accepted) == 4  # nothing sent twice


def test_a_sev3_does_not_page_until_it_is_raised_or_its_target_is_missed(
    paged_bot: RunningBot, pagerduty: FakePagerDuty
) -> None:
    channel = declare(paged_bot, "declare sev3 Slow dashboards")
    paged_bot.run_jobs()
    assert pagerduty.accepted == []
    paged_bot.slack.command("sev 1", channel_id=channel.id)
    paged_bot.wait_quiet()
    paged_bot.run_jobs()
    assert [e["payload"]["summary"] for e in pagerduty.accepted] == ["[SEV-1] INC-1 Slow dashboards"]
    assert page_lines(paged_bot)[0].startswith("Paged the on-call through PagerDuty (raised to SEV-1)")

    declare(paged_bot, "declare sev2 Enrichment late", prefix="inc-2-")
    paged_bot.clock.advance(hours=1, minutes=1)  # SEV-2's hour passed: escalation level 1
    paged_bot.run_due_jobs()
    assert len(pagerduty.alerts) == 1
    paged_bot.clock.advance(minutes=15)  # level 2: the on-call is paged
    paged_bot.run_due_jobs()
    assert pagerduty.alerts[key(paged_bot, 2)].summary == "[SEV-2] INC-2 Enrichment late"
    assert page_lines(paged_bot, 2) == [
        "Paged the on-call through PagerDuty (response target missed, still unacknowledged): Event processed"
    ]


def test_a_pager_failing_then_accepting_gets_exactly_one_trigger(
    paged_bot: RunningBot, pagerduty: FakePagerDuty
) -> None:
    pagerduty.fail(500, 429)
    channel = declare(paged_bot, "declare sev1 Provider down")
    paged_bot.run_jobs()  # the delivery fails; RQ tries it again later
    waiting = "PagerDuty has not taken the page yet (PagerDuty answered HTTP 500)"
    assert pagerduty.accepted == [] and page_lines(paged_bot) == [waiting]
    paged_bot.fake.wait_until(
        lambda: any(
            f":hourglass: {waiting}. The bot tries again for about 81 minutes" in m.get("text", "")
            for m in channel.messages.values()
        )
    )
    paged_bot.run_due_jobs(at=time.time() + 30)  # the first retry meets the 429
    assert pagerduty.accepted == [] and page_lines(paged_bot) == [waiting]  # said once
    paged_bot.run_due_jobs(at=time.time() + 600)
    assert [e["event_action"] for e in pagerduty.accepted] == ["trigger"]
    assert page_lines(paged_bot)[-1] == "Paged the on-call through PagerDuty (declared SEV-1): Event processed"
    paged_bot.run_due_jobs(at=time.time() + 6000)
    assert len(pagerduty.accepted) == 1 and len(pagerduty.alerts) == 1


def test_a_drill_never_pages_and_a_private_alert_carries_no_title(
    paged_bot: RunningBot, pagerduty: FakePagerDuty
) -> None:
    declare(paged_bot, "declare --drill sev1 Practice the outage")
    paged_bot.run_jobs()
    assert pagerduty.accepted == []
    declare(paged_bot, "declare --private sev1 Quokka exfiltration by the CFO", prefix="inc-2-")
    paged_bot.run_jobs()
    alert = pagerduty.alerts[key(paged_bot, 2)]
    assert alert.summary == "[SEV-1] INC-2 (private incident)"
    assert "Quokka" not in json.dumps(pagerduty.accepted)


def test_incident_page_pages_now_once_at_any_severity(paged_bot: RunningBot, pagerduty: FakePagerDuty) -> None:
    channel = declare(paged_bot, "declare sev4 Typo on a label")
    paged_bot.slack.command("page the database is slow for everyone", channel_id=channel.id)
    paged_bot.fake.wait_until(
        lambda: any("Paging the on-call through PagerDuty" in t for t in ephemeral_texts(paged_bot))
    )
    paged_bot.run_jobs()
    assert pagerduty.alerts[key(paged_bot)].severity == "info"
    assert "Page asked for: the database is slow for everyone" in page_lines(paged_bot)
    paged_bot.slack.command("page again", channel_id=channel.id)
    paged_bot.fake.wait_until(
        lambda: any(
            "INC-1 already paged the on-call through PagerDuty at 14:00 UTC" in t for t in ephemeral_texts(paged_bot)
        )
    )
    paged_bot.run_jobs()
    assert len(pagerduty.accepted) == 1


def test_a_refused_page_is_said_once_in_the_channel(bot_factory: Any, pagerduty: FakePagerDuty) -> None:
    bot = bot_factory(pagerduty_routing_key="X" * 32, pagerduty_events_url=pagerduty.events_url)
    channel = declare(bot, "declare sev1 Wrong key")
    assert bot.run_jobs() == 0  # refused: not retried
    refused = (
        "PagerDuty refused to trigger the page: PagerDuty refused the event (Event object is invalid: Invalid "
        "routing key)"
    )
    assert page_lines(bot) == [refused]
    bot.fake.wait_until(lambda: any(refused in m.get("text", "") for m in channel.messages.values()))
    bot.slack.command("sev 1", channel_id=channel.id)
    bot.slack.command("sev 2", channel_id=channel.id)
    bot.wait_quiet()
    bot.run_jobs()
    assert page_lines(bot) == [refused]  # said once


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1=deadbeef,v1={digest}"}


def webhook(bot: RunningBot, event_type: str, dedup_key: str, event_id: str = "01EVENT") -> bytes:
    return json.dumps(
        {
            "event": {
                "id": event_id,
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-11-25T14:05:00.000Z",
                "agent": {"summary": "Jane On-Call", "type": "user_reference"},
                "data": {"id": "PGR0VU2", "type": "incident", "incident_key": dedup_key, "status": "acknowledged"},
            }
        }
    ).encode()


def test_the_on_call_acknowledging_in_pagerduty_shows_on_the_timeline(
    paged_bot: RunningBot, pagerduty: FakePagerDuty
) -> None:
    channel = declare(paged_bot, "declare sev1 Provider down")
    paged_bot.run_jobs()
    url = paged_bot.url.replace("/slack/events", PAGERDUTY_WEBHOOK_PATH)
    body = webhook(paged_bot, "incident.acknowledged", key(paged_bot))
    assert requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10).status_code == 401
    forged = signed(body, "not-the-secret-at-all-0123456789")
    assert requests.post(url, data=body, headers=forged, timeout=10).status_code == 401
    assert not any("PagerDuty:" in line for line in page_lines(paged_bot))

    assert requests.post(url, data=body, headers=signed(body), timeout=10).status_code == 200
    assert requests.post(url, data=body, headers=signed(body), timeout=10).status_code == 200  # a replay
    assert page_lines(paged_bot)[-1] == "PagerDuty: the page was acknowledged there by Jane On-Call"
    assert sum("PagerDuty:" in line for line in page_lines(paged_bot)) == 1
    paged_bot.run_jobs()
    header = message(paged_bot, channel, "header")
    paged_bot.fake.wait_until(lambda: "Paged through PagerDuty at 14:00, acknowledged 14:05" in text_of(header))
    stranger = webhook(paged_bot, "incident.resolved", "someone-elses-alert", "02EVENT")
    assert requests.post(url, data=stranger, headers=signed(stranger), timeout=10).status_code == 200
    assert sum("PagerDuty:" in line for line in page_lines(paged_bot)) == 1


def test_opsgenie_creates_one_alert_checks_each_request_and_closes_it(bot_factory: Any, opsgenie: FakeOpsgenie) -> None:
    bot = bot_factory(opsgenie_api_key=OPSGENIE_KEY, opsgenie_api_url=opsgenie.api_url)
    channel = declare(bot, "declare sev1 Org Chat refuses every turn")
    assert bot.run_jobs() == 0
    alert = opsgenie.alerts[key(bot)]
    assert (alert.message, alert.priority) == ("[SEV-1] INC-1 Org Chat refuses every turn", "P1")
    assert page_lines(bot) == ["Paged the on-call through Opsgenie (declared SEV-1): Created alert"]
    bot.slack.command("ack", channel_id=channel.id)
    bot.wait_quiet()
    bot.run_jobs()
    assert alert.acknowledged
    resolve(bot, channel)
    bot.run_jobs()
    assert alert.status == "closed" and alert.count == 1
    assert page_lines(bot)[-1] == "Opsgenie page resolved (resolved in Slack): Closed alert"


def test_an_opsgenie_key_it_does_not_know_is_said_once(bot_factory: Any, opsgenie: FakeOpsgenie) -> None:
    bot = bot_factory(opsgenie_api_key="00000000-0000-0000-0000-000000000000", opsgenie_api_url=opsgenie.api_url)
    declare(bot, "declare sev1 Wrong Opsgenie key")
    assert bot.run_jobs() == 0
    assert page_lines(bot) == [
        "Opsgenie refused to trigger the page: Opsgenie refused the request (Could not authenticate)"
    ]


def test_a_pager_that_is_down_delays_neither_slack_nor_the_other_subscribers(
    paged_bot: RunningBot, pagerduty: FakePagerDuty, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="bot.events")
    pagerduty.fail(*[503] * 50)
    channel = declare(paged_bot, "declare sev1 PagerDuty is down too")
    assert "Pick the playbook" in json.dumps([m.get("blocks") for m in channel.messages.values()])
    paged_bot.run_jobs()
    logged = [record.__dict__["event"]["kind"] for record in caplog.records if record.name == "bot.events"]
    assert logged == ["declared"] and pagerduty.accepted == []  # the log had its event; the pager waits its turn
