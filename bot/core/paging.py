"""When the on-call is paged, and what the page says: the rules, once, for every pager (PagerDuty, Opsgenie).

One alert per incident: every page of an incident uses its dedup key, so a pager merges them. An incident pages
when it is declared at, or raised into, a severity of PAGE_ON_SEVERITIES, when its response target is missed at
the second escalation level, or when someone asks (`/incident page`); a drill never pages. Once paged, the
incident's acknowledgement acknowledges the alert, its resolution resolves it, a severity change updates it;
nothing pages the on-call twice for one incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.core.events import (
    Acknowledged,
    Declared,
    Event,
    PageRequested,
    Resolved,
    SeverityChanged,
    TargetMissed,
)
from bot.core.incident import Incident
from bot.core.severity import Severity

SECOND_LEVEL = 2
MESSAGE_LIMIT = 130  # Opsgenie's alert message; PagerDuty's summary takes 1,024


class PageAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    UPDATE = "update"  # the severity changed


@dataclass(frozen=True)
class PageState:
    """What one pager was told of an incident so far."""

    triggered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class PageDecision:
    action: PageAction
    why: str  # for the timeline: "declared SEV-1", "raised to SEV-1", "response target missed"…


def decide(event: Event, incident: Incident, state: PageState, page_on: frozenset[Severity]) -> PageDecision | None:
    """What the pager is told of `event`, if anything."""
    if incident.drill:
        return None
    paged = state.triggered_at is not None and state.resolved_at is None
    if isinstance(event, Declared) and event.severity in page_on and state.triggered_at is None:
        return PageDecision(PageAction.TRIGGER, f"declared {event.severity.label}")
    if isinstance(event, SeverityChanged):
        if paged:
            return PageDecision(PageAction.UPDATE, f"severity {event.before.label} → {event.after.label}")
        if event.after in page_on and event.after < event.before and state.triggered_at is None:
            return PageDecision(PageAction.TRIGGER, f"raised to {event.after.label}")
    if isinstance(event, TargetMissed) and event.level >= SECOND_LEVEL and state.triggered_at is None:
        return PageDecision(PageAction.TRIGGER, "response target missed, still unacknowledged")
    if isinstance(event, PageRequested) and state.triggered_at is None:
        return PageDecision(PageAction.TRIGGER, "asked for in the incident")
    if isinstance(event, Acknowledged) and paged and state.acknowledged_at is None:
        return PageDecision(PageAction.ACKNOWLEDGE, "acknowledged in Slack")
    if isinstance(event, Resolved) and paged:
        return PageDecision(PageAction.RESOLVE, "resolved in Slack")
    return None


@dataclass(frozen=True)
class Alert:
    """What a page says: never a private incident's title or summary."""

    dedup_key: str
    summary: str
    severity: Severity
    details: dict[str, str]
    links: tuple[tuple[str, str], ...]  # (text, url)

    def short(self, limit: int = MESSAGE_LIMIT) -> str:
        return self.summary if len(self.summary) <= limit else self.summary[: limit - 1] + "…"


def alert_for(incident: Incident, dedup_key: str, deadline: datetime, links: tuple[tuple[str, str], ...]) -> Alert:
    subject = "(private incident)" if incident.private else incident.title
    details = {
        "incident": incident.reference,
        "severity": incident.severity.label,
        "commander": incident.commander,
        "response target": deadline.isoformat(),
    }
    if not incident.private and incident.summary:
        details["summary"] = incident.summary
    return Alert(
        dedup_key, f"[{incident.severity.label}] {incident.reference} {subject}", incident.severity, details, links
    )
