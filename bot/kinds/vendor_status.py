"""Vendor status: the providers' status pages (Statuspage `summary.json`, RSS feeds), read by the bot.

A page that cannot be reached or read is `unknown`, and a feed with no recent item says just that, with the
feed's scope; neither is ever reported as operational.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bot.core.playbook import StepBase
from bot.core.vendors import VendorReport, VendorState
from bot.core.walkthrough import StepResult
from bot.kinds.base import Kind, RunContext, Shown, StepFailed, read_or_change
from bot.render.blocks import section
from bot.render.mrkdwn import escape

ICONS = {
    VendorState.OPERATIONAL: ":large_green_circle:",
    VendorState.QUIET: ":white_circle:",
    VendorState.DEGRADED: ":large_yellow_circle:",
    VendorState.OUTAGE: ":red_circle:",
    VendorState.UNKNOWN: ":grey_question:",
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
        lines = [
            f"{ICONS[r.state]} *{escape(r.provider)}*: {r.state.value}, {escape(r.summary)}"
            + (f" (<{r.url}|status page>)" if r.url else "")
            for r in reports
        ]
        return Shown("Vendor status", [section(":satellite_antenna: *Vendor status*\n" + "\n".join(lines))])

    def summary(self, step: StepBase, result: StepResult) -> str:
        return " · ".join(f"{row['provider']} {row['state']}" for row in result.rows)


KIND = VendorStatus()
