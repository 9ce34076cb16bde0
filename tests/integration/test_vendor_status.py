"""Vendor status for LLM-related incidents: read from loopback status pages; unreadable means unknown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from bot.adapters.status_pages import StatusPage, StatusPages
from bot.core.vendors import VendorState
from tests.conftest import RunningBot, step_state
from tests.driver import declare
from tests.fakes.status_pages import FakeStatusPages, rss, statuspage

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def rfc822(minutes_ago: int) -> str:
    return format_datetime(NOW - timedelta(minutes=minutes_ago))


def test_llm_related_declare_checks_every_vendor(bot: RunningBot, status_pages: FakeStatusPages) -> None:
    status_pages.set(
        "/anthropic/api/v2/summary.json",
        statuspage("major", "Partial System Outage", ["Elevated errors on Claude API"]),
    )
    status_pages.set(
        "/aws/rss/bedrock-us-east-1.rss",
        rss([(rfc822(20), "Informational message: Increased error rates", "Bedrock in us-east-1")]),
    )
    status_pages.set("/azure/status/feed/", b"gone", status=404)
    channel = declare(bot, "declare --llm sev2 Anthropic 5xx on all pipelines")
    vendor = bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if "Vendor status" in m.get("text", "")), None)
    )
    text = json.dumps(vendor["blocks"])
    assert ":red_circle: *Anthropic*: outage, Partial System Outage: Elevated errors on Claude API" in text
    assert ":large_green_circle: *OpenAI*: operational, All Systems Operational" in text
    assert (
        ":large_yellow_circle: *AWS Bedrock us-east-1*: degraded, Informational message: Increased error rates" in text
    )
    assert ":grey_question: *Azure OpenAI*: unknown, HTTP 404" in text
    state = bot.fake.wait_until(
        lambda: step_state(bot, "first-five", "vendor-status").result and step_state(bot, "first-five", "vendor-status")
    )
    assert state.result == (
        "Anthropic outage · OpenAI operational · AWS Bedrock us-east-1 degraded · Azure OpenAI unknown"
    )


def test_not_llm_related_does_not_check_on_declare(bot: RunningBot, status_pages: FakeStatusPages) -> None:
    declare(bot)
    assert status_pages.hits == []


def pages(fake: FakeStatusPages, timeout: float = 0.5) -> StatusPages:
    urls = fake.settings()
    return StatusPages(
        [
            StatusPage("Anthropic", "statuspage", urls["anthropic_status_url"]),
            StatusPage("AWS Bedrock us-east-1", "aws_rss", f"{urls['aws_status_feeds_url']}bedrock-us-east-1.rss"),
            StatusPage("Azure OpenAI", "azure_rss", urls["azure_status_url"]),
        ],
        timeout,
    )


def states(fake: FakeStatusPages) -> list[tuple[VendorState, str]]:
    return [(report.state, report.summary) for report in pages(fake).check_all(NOW)]


def test_unreachable_slow_or_garbled_pages_are_unknown_never_operational(status_pages: FakeStatusPages) -> None:
    status_pages.set("/anthropic/api/v2/summary.json", b"<html>maintenance</html>")
    status_pages.set("/aws/rss/bedrock-us-east-1.rss", rss(), delay=1.0)
    status_pages.set("/azure/status/feed/", b"<rss><channel><item><pubDate>never</pubDate></item>")
    assert states(status_pages) == [
        (VendorState.UNKNOWN, "the page could not be read"),
        (VendorState.UNKNOWN, "no answer within 0.5 s"),
        (VendorState.UNKNOWN, "the page could not be read"),
    ]
    dead = StatusPages([StatusPage("Anthropic", "statuspage", "http://127.0.0.1:9/summary.json")], 0.5)
    assert dead.check_all(NOW)[0].state is VendorState.UNKNOWN


def test_feeds_old_resolved_and_unrelated_items(status_pages: FakeStatusPages) -> None:
    status_pages.set(
        "/aws/rss/bedrock-us-east-1.rss",
        rss(
            [
                (rfc822(10), "Service is operating normally: [RESOLVED] Increased error rates", ""),
                (rfc822(50), "Informational message: Increased error rates", ""),
            ]
        ),
    )
    status_pages.set(
        "/azure/status/feed/",
        rss(
            [
                (rfc822(30), "Azure Storage - East US - Investigating", "Storage accounts"),
                (rfc822(60 * 30), "Azure OpenAI Service - degraded", "old"),
            ]
        ),
    )
    result: list[Any] = states(status_pages)
    assert result[1] == (VendorState.OPERATIONAL, "Service is operating normally: [RESOLVED] Increased error rates")
    assert result[2] == (VendorState.QUIET, "nothing in the last 24 h (Azure's feed, items that name OpenAI)")
    status_pages.set("/aws/rss/bedrock-us-east-1.rss", rss([(rfc822(60 * 30), "Informational message: old", "")]))
    assert states(status_pages)[1] == (VendorState.QUIET, "nothing in the last 24 h (this region's Bedrock feed)")


@pytest.mark.parametrize(
    ("regions", "expected"),
    [
        ("", ":grey_question: *AWS Bedrock*: unknown, not checked: set BEDROCK_REGIONS to the regions your org calls"),
        ("us-east-1", ":white_circle: *AWS Bedrock us-east-1*: no incident in the feed, nothing in the last 24 h"),
    ],
)
def test_bedrock_is_checked_in_each_region_named_and_said_unchecked_without_one(
    bot_factory: Any, status_pages: FakeStatusPages, regions: str, expected: str
) -> None:
    bot = bot_factory(bedrock_regions=regions)
    channel = declare(bot, "declare --llm sev2 Bedrock throttling")
    vendor = bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if "Vendor status" in m.get("text", "")), None)
    )
    assert expected in json.dumps(vendor["blocks"])
