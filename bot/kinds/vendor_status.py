"""Vendor status: the providers' status pages (Statuspage `summary.json`, RSS feeds), read by the bot.

A page that cannot be reached or read is `unknown`, and a feed with no recent item says just that, with the
feed's scope; neither is ever reported as operational.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bot.core.playbook import StepBase
from bot.core.vendors import VendorReport, VendorState
from bot.core.views import Badge, Line, Link, Paragraph, ResultView, Strong
from bot.core.walkthrough import StepResult
from bot.kinds.base import Kind, RunContext, Shown, StepFailed, read_or_change

TONES = {
    VendorState.OPERATIONAL: "good",
    VendorState.QUIET: "quiet",
    VendorState.DEGRADED: "warning",
    VendorState.OUTAGE: "bad",
    VendorState.UNKNOWN: "unknown",
}


class VendorStatusStep(StepBase):
    kind: Literal["vendor_status"]

    @model_validator(mode="after")
    def _risk(self) -> VendorStatusStep:
        read_or_change(self)
        return self


class VendorStatus(Kind):
    name = "vendor_status"
    model = VendorStatusStep
    run_label = "Check status pages"

    def unavailable(self, step: StepBase) -> str:
        return "Check the status pages by hand, then mark it done."

    def run(self, step: StepBase, values: dict[str, object], context: RunContext) -> StepResult:
        if context.status_pages is None:
            raise StepFailed("No status pages are configured.")
        reports = context.status_pages.check_all(context.now)
        rows = [report.row() for report in reports]
        return StepResult(at=context.now, statement="status pages", rows=rows, total=len(rows))

    def present(self, reference: str, step: StepBase, result: StepResult) -> Shown:
        reports = [VendorReport.from_row(row) for row in result.rows]
        lines: list[Line] = [(Strong("Vendor status"),)]
        for r in reports:
            page: Line = (" (", Link("status page", r.url), ")") if r.url else ()
            lines.append((Badge(TONES[r.state]), " ", Strong(r.provider), f": {r.state.value}, {r.summary}", *page))
        return Shown(ResultView("Vendor status", "status", (Paragraph(tuple(lines)),)))

    def summary(self, step: StepBase, result: StepResult) -> str:
        return " · ".join(f"{row['provider']} {row['state']}" for row in result.rows)


KIND = VendorStatus()
