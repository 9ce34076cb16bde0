"""What the bot shows for the work it did: query tables, CSV files, the error-rate numbers, vendor status."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.core.error_rate import HourPoint
from bot.core.vendors import VendorReport, VendorState
from bot.render.blocks import Blocks, context, section
from bot.render.mrkdwn import escape

TABLE_ROWS = 20
CELL_WIDTH = 40
TABLE_CHARS = 2700
VENDOR_ICONS = {
    VendorState.OPERATIONAL: ":large_green_circle:",
    VendorState.DEGRADED: ":large_yellow_circle:",
    VendorState.OUTAGE: ":red_circle:",
    VendorState.UNKNOWN: ":grey_question:",
}


def columns(rows: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [name for name in row if name not in names]
    return names


def _cell(value: Any) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def table(rows: list[dict[str, Any]], limit: int = TABLE_ROWS) -> str:
    """A fixed-width table of the first rows, for a code block."""
    names = columns(rows)
    shown = [[_cell(row.get(name)) for name in names] for row in rows[:limit]]
    widths = [max([len(name), *(len(r[i]) for r in shown)]) for i, name in enumerate(names)]
    lines = ["  ".join(name.ljust(width) for name, width in zip(names, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)) for r in shown]
    text = "\n".join(line.rstrip() for line in lines)
    return text if len(text) <= TABLE_CHARS else text[:TABLE_CHARS] + "\n…"


def result_message(title: str, rows: list[dict[str, Any]], total: int, window: str) -> tuple[str, Blocks]:
    count = f"{total} row{'s' if total != 1 else ''}"
    shown = f", the first {min(TABLE_ROWS, len(rows))} below" if len(rows) > TABLE_ROWS else ""
    head = f":bar_chart: *{escape(title)}*: {count}{shown}" + (f" ({window})" if window else "")
    blocks: Blocks = [section(head)]
    if rows:
        blocks.append(section(f"```{escape(table(rows))}```"))
        blocks.append(context("The full result is attached as CSV in the thread."))
    return f"{title}: {count}", blocks


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def error_rate_text(points: list[HourPoint]) -> str:
    lines = ["hour (UTC)        failed  total   rate"]
    for point in points:
        rate = f"{point.rate:6.1%}" if point.total else "     -"
        lines.append(f"{point.start:%Y-%m-%d %H:00}  {point.failed:6d} {point.total:6d} {rate}")
    return "\n".join(lines)


def summarize(rows: list[dict[str, Any]], total: int) -> str:
    """A one-line summary: `Failed 12 · Succeeded 30` for a count by one field, else the row count."""
    names = columns(rows)
    if rows and len(names) == 2 and "c" in names:
        label = next(name for name in names if name != "c")
        return " · ".join(f"{row.get(label)} {row.get('c')}" for row in rows[:6])
    return f"{total} row{'s' if total != 1 else ''}"


def vendor_message(reports: list[VendorReport]) -> tuple[str, Blocks]:
    lines = [
        f"{VENDOR_ICONS[r.state]} *{escape(r.provider)}*: {r.state.value}, {escape(r.summary)} (<{r.url}|status page>)"
        for r in reports
    ]
    return "Vendor status", [section(":satellite_antenna: *Vendor status*\n" + "\n".join(lines))]


def vendor_summary(reports: list[VendorReport]) -> str:
    return " · ".join(f"{r.provider} {r.state.value}" for r in reports)
