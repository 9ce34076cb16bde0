"""The error-rate trend: failed over total per UTC hour, from an aggregate grouped by day, hour and outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any


@dataclass(frozen=True)
class HourPoint:
    start: datetime
    failed: int
    total: int

    @property
    def rate(self) -> float:
        return self.failed / self.total if self.total else 0.0


def error_rate(
    rows: list[dict[str, Any]], since: datetime, until: datetime, column: str, failed: str
) -> list[HourPoint]:
    """Rows `{d: day, h: hour, <column>, c}` → one point per hour from `since` to `until`, empty hours as zero;
    a row whose `column` is `failed` counts as failed."""
    counts: dict[datetime, list[int]] = {}
    for row in rows:
        start = datetime.combine(date.fromisoformat(str(row["d"])), time(int(row["h"])), tzinfo=since.tzinfo)
        failed_total = counts.setdefault(start, [0, 0])
        failed_total[1] += int(row["c"])
        if row.get(column) == failed:
            failed_total[0] += int(row["c"])
    points, hour = [], since.replace(minute=0, second=0, microsecond=0)
    while hour < until:
        failures, total = counts.get(hour, [0, 0])
        points.append(HourPoint(hour, failures, total))
        hour += timedelta(hours=1)
    return points
