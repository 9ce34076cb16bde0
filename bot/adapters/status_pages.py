"""Vendor status pages: Statuspage v2 `summary.json` (Anthropic, OpenAI) and RSS feeds (AWS Bedrock, Azure).

A page that cannot be reached or read is `unknown`, never `operational`; a feed with no recent item is only
"no incident in the feed", with the feed's scope (a feed has no "all is well" entry).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from bot.core.vendors import VendorReport, VendorState

RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class StatusPage:
    provider: str
    kind: str  # statuspage, aws_rss or azure_rss
    url: str


class StatusPages:
    def __init__(self, pages: list[StatusPage], timeout: float, unchecked: dict[str, str] | None = None) -> None:
        self.pages = pages
        self.timeout = timeout
        self.unchecked = unchecked or {}  # vendor → why it is not checked (a setting left empty)
        self.http = requests.Session()

    def check_all(self, now: datetime) -> list[VendorReport]:
        with ThreadPoolExecutor(max_workers=len(self.pages) or 1) as pool:
            reports = list(pool.map(lambda page: self.check(page, now), self.pages))
        return reports + [VendorReport(vendor, VendorState.UNKNOWN, why, "") for vendor, why in self.unchecked.items()]

    def check(self, page: StatusPage, now: datetime) -> VendorReport:
        try:
            response = self.http.get(page.url, timeout=self.timeout)
        except requests.Timeout:
            return VendorReport(page.provider, VendorState.UNKNOWN, f"no answer within {self.timeout:g} s", page.url)
        except requests.RequestException as error:
            return VendorReport(page.provider, VendorState.UNKNOWN, f"unreachable ({type(error).__name__})", page.url)
        if response.status_code != 200:
            return VendorReport(page.provider, VendorState.UNKNOWN, f"HTTP {response.status_code}", page.url)
        try:
            if page.kind == "statuspage":
                state, summary = _statuspage(response.json())
            else:
                state, summary = _feed(response.content, now, page.kind)
        except (ValueError, KeyError, TypeError, ET.ParseError):
            return VendorReport(page.provider, VendorState.UNKNOWN, "the page could not be read", page.url)
        return VendorReport(page.provider, state, summary, page.url)


_INDICATORS = {
    "none": VendorState.OPERATIONAL,
    "minor": VendorState.DEGRADED,
    "major": VendorState.OUTAGE,
    "critical": VendorState.OUTAGE,
}


def _statuspage(summary: dict[str, Any]) -> tuple[VendorState, str]:
    status = summary["status"]
    state = _INDICATORS.get(str(status["indicator"]))
    if state is None:
        raise ValueError(f"unknown indicator {status['indicator']}")
    text = str(status.get("description") or state.value)
    open_incidents = [i["name"] for i in summary.get("incidents", []) if i.get("status") != "resolved"]
    if open_incidents:
        text += ": " + "; ".join(open_incidents[:3])
    return state, text


def _feed(content: bytes, now: datetime, kind: str) -> tuple[VendorState, str]:
    channel = ET.fromstring(content).find("channel")  # noqa: S314
    if channel is None:
        raise ValueError("not an RSS feed")
    items = []
    for item in channel.findall("item"):
        title = (item.findtext("title") or "").strip()
        description = (item.findtext("description") or "").strip()
        published = parsedate_to_datetime(item.findtext("pubDate") or "")
        items.append((published, title, description))
    recent = [i for i in sorted(items, reverse=True) if now - i[0] <= RECENT]
    scope = "this region's Bedrock feed"
    if kind == "azure_rss":
        recent = [i for i in recent if "openai" in f"{i[1]} {i[2]}".lower()]
        scope = "Azure's feed, items that name OpenAI"
    if not recent:
        return VendorState.QUIET, f"nothing in the last {RECENT.total_seconds() / 3600:g} h ({scope})"
    latest = recent[0][1]
    if kind == "aws_rss" and ("operating normally" in latest.lower() or "[resolved]" in latest.lower()):
        return VendorState.OPERATIONAL, latest
    return VendorState.DEGRADED, latest
