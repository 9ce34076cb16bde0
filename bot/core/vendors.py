"""What a vendor's status page says: operational, degraded, outage; for a feed with no recent item, only that
the feed is quiet (a feed has no "all is well" entry); unknown when the page cannot be read."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class VendorState(StrEnum):
    OPERATIONAL = "operational"  # a status page that says so (Statuspage's indicator `none`)
    QUIET = "no incident in the feed"  # an RSS feed with no recent item: not a statement that all is well
    DEGRADED = "degraded"
    OUTAGE = "outage"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class VendorReport:
    provider: str
    state: VendorState
    summary: str
    url: str

    def row(self) -> dict[str, Any]:
        return {"provider": self.provider, "state": self.state.value, "summary": self.summary, "url": self.url}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> VendorReport:
        return cls(str(row["provider"]), VendorState(row["state"]), str(row["summary"]), str(row["url"]))
