"""When the on-call is paged and what the page says (`bot/core/paging.py`), without any pager."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.events import (
    Acknowledged,
    Declared,
    Event,
    Mitigated,
    PageRequested,
    Resolved,
    SeverityChanged,
    TargetMissed,
)
from bot.core.incident import Incident
from bot.core.paging import MESSAGE_LIMIT, PageAction, PageState, alert_for, decide
from bot.core.severity import Severity
from tests.builders import an_incident

AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
SEV1_ONLY = frozenset({Severity.SEV1})
NEVER = PageState()
PAGED = PageState(triggered_at=AT)
ACKED = PageState(triggered_at=AT, acknowledged_at=AT)
DONE = PageState(triggered_at=AT, resolved_at=AT)


def incident(severity: Severity = Severity.SEV1, **fields: object) -> Incident:
    return an_incident(severity=severity, **fields)


def declared(severity: Severity) -> Declared:
    return Declared(incident=12, at=AT, severity=severity, drill=False, private=False)


def changed(before: Severity, after: Severity) -> SeverityChanged:
    return SeverityChanged(incident=12, at=AT, before=before, after=after)


def action(event: Event, state: PageState = NEVER, **fields: object) -> PageAction | None:
    decision = decide(event, incident(**fields), state, SEV1_ONLY)  # type: ignore[arg-type]
    return decision.action if decision else None


@pytest.mark.parametrize(
    ("event", "state", "expected"),
    [
        (declared(Severity.SEV1), NEVER, PageAction.TRIGGER),
        (declared(Severity.SEV2), NEVER, None),
        (declared(Severity.SEV1), PAGED, None),  # a redelivered declaration pages once
        (changed(Severity.SEV3, Severity.SEV1), NEVER, PageAction.TRIGGER),
        (changed(Severity.SEV3, Severity.SEV2), NEVER, None),
        (changed(Severity.SEV1, Severity.SEV1), NEVER, None),  # not raised into it
        (changed(Severity.SEV1, Severity.SEV2), PAGED, PageAction.UPDATE),
        (changed(Severity.SEV1, Severity.SEV2), DONE, None),  # a resolved alert is left alone
        (TargetMissed(incident=12, at=AT, level=1), NEVER, None),
        (TargetMissed(incident=12, at=AT, level=2), NEVER, PageAction.TRIGGER),
        (TargetMissed(incident=12, at=AT, level=2), PAGED, None),
        (PageRequested(incident=12, at=AT), NEVER, PageAction.TRIGGER),
        (PageRequested(incident=12, at=AT), PAGED, None),
        (PageRequested(incident=12, at=AT), DONE, None),  # one incident pages once, even after its page resolved
        (Acknowledged(incident=12, at=AT), PAGED, PageAction.ACKNOWLEDGE),
        (Acknowledged(incident=12, at=AT), ACKED, None),
        (Acknowledged(incident=12, at=AT), NEVER, None),  # nothing to acknowledge
        (Resolved(incident=12, at=AT), PAGED, PageAction.RESOLVE),
        (Resolved(incident=12, at=AT), ACKED, PageAction.RESOLVE),
        (Resolved(incident=12, at=AT), DONE, None),
        (Resolved(incident=12, at=AT), NEVER, None),
        (Mitigated(incident=12, at=AT), PAGED, None),  # not a pager's business
    ],
)
def test_what_a_pager_is_told(event: Event, state: PageState, expected: PageAction | None) -> None:
    assert action(event, state) is expected


def test_a_drill_is_never_paged_whatever_happens() -> None:
    for event in (
        declared(Severity.SEV1),
        PageRequested(incident=12, at=AT),
        TargetMissed(incident=12, at=AT, level=2),
    ):
        assert action(event, NEVER, drill=True) is None
    assert action(Resolved(incident=12, at=AT), PAGED, drill=True) is None


def test_the_reason_goes_on_the_timeline() -> None:
    decision = decide(changed(Severity.SEV3, Severity.SEV1), incident(), NEVER, SEV1_ONLY)
    assert decision is not None and decision.why == "raised to SEV-1"
    decision = decide(changed(Severity.SEV1, Severity.SEV2), incident(Severity.SEV2), PAGED, SEV1_ONLY)
    assert decision is not None and decision.why == "severity SEV-1 → SEV-2"


def test_an_alert_says_what_a_responder_needs_and_a_private_one_no_words() -> None:
    links = ("https://slack.example/c", "https://bot.example/incidents/12")
    both = (("Slack channel", links[0]), ("Incident page", links[1]))
    public = alert_for(incident(), "fm-incident-12", AT, both)
    assert public.summary == "[SEV-1] INC-12 Org Chat is down"
    assert public.details == {
        "incident": "INC-12",
        "severity": "SEV-1",
        "commander": "U1",
        "response target": "2026-11-25T14:00:00+00:00",
        "summary": "Every turn fails",
    }
    assert public.links == (("Slack channel", links[0]), ("Incident page", links[1]))
    private = alert_for(incident(private=True), "fm-incident-12", AT, both[:1])
    assert private.summary == "[SEV-1] INC-12 (private incident)"
    assert "summary" not in private.details and private.links == (("Slack channel", links[0]),)
    assert "Org Chat" not in repr(private) and "Every turn" not in repr(private)


def test_a_long_title_is_cut_to_opsgenies_message_limit() -> None:
    alert = alert_for(incident(title="x" * 80), "k", AT, ())
    assert len(alert.summary) == len("[SEV-1] INC-12 ") + 80
    assert alert.short(40) == alert.summary[:39] + "…" and len(alert.short(40)) == 40
    assert alert.short() == alert.summary  # 95 characters fit in 130
    assert len(alert_for(incident(title="y" * 200), "k", AT, ()).short()) == MESSAGE_LIMIT
