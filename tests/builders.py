"""Domain values for the unit tests, built with plausible defaults and the fields a test cares about."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.incident import Incident
from bot.core.severity import Severity

DECLARED_AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def an_incident(**fields: object) -> Incident:
    """INC-12, SEV-1, "Org Chat is down", declared by U1 at 14:00 UTC in channel C1, unless `fields` say otherwise."""
    values: dict[str, object] = {
        "number": 12,
        "title": "Org Chat is down",
        "summary": "Every turn fails",
        "severity": Severity.SEV1,
        "team_id": "T1",
        "declared_by": "U1",
        "declared_at": DECLARED_AT,
        "commander": "U1",
        "channel_id": "C1",
    }
    return Incident.model_validate(values | fields)
