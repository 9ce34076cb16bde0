"""What a vendor's status page says: operational, degraded, outage, or unknown when it cannot be read."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class VendorState(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    OUTAGE = "outage"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class VendorReport:
    provider: str
    state: VendorState
    summary: str
    url: str
