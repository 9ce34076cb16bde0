"""How much of a result the CSV holds, said honestly."""

from datetime import UTC, datetime

import pytest

from bot.core.walkthrough import StepResult
from bot.kinds.query import export_label

AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fetched", "total", "row_limit", "label"),
    [
        (5_000, 5_000, None, "all 5,000 rows"),
        (1, 1, None, "all 1 row"),
        (10_000, 12_431, None, "first 10,000 of 12,431 rows"),
        (200, 731, 200, "first 200 of 731 rows (the runbook's LIMIT)"),
    ],
)
def test_the_label_says_all_or_where_it_cut(fetched: int, total: int, row_limit: int | None, label: str) -> None:
    result = StepResult(at=AT, statement="SELECT …", rows=[], total=total, fetched=fetched)
    assert export_label(result, row_limit) == label
