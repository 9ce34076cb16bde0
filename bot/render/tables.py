"""Rows as a fixed-width table for a code block: a query's result, a probe's rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.views import TABLE_ROWS, columns

CELL_WIDTH = 40
TABLE_CHARS = 2700


def _cell(value: Any) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def table(rows: Sequence[Mapping[str, Any]], limit: int = TABLE_ROWS) -> str:
    """A fixed-width table of the first rows, for a code block."""
    names = columns(rows)
    shown = [[_cell(row.get(name)) for name in names] for row in rows[:limit]]
    widths = [max([len(name), *(len(r[i]) for r in shown)]) for i, name in enumerate(names)]
    lines = ["  ".join(name.ljust(width) for name, width in zip(names, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)) for r in shown]
    text = "\n".join(line.rstrip() for line in lines)
    return text if len(text) <= TABLE_CHARS else text[:TABLE_CHARS] + "\n…"
