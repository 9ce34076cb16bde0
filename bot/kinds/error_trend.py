"""An error-rate trend: failed over total per UTC hour for each series (pipeline executions, Org Chat turns…),
from one aggregate SOQL each, shown as numbers in the channel and charted by the worker with the matrix's line.

Each series' SOQL groups by `DAY_ONLY(…) d`, `HOUR_IN_DAY(…) h` and the column that tells a failure, and counts
as `c`; the window is `{since}`/`{until}` (explicit UTC bounds, built with `format_soql`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.soql import build_soql, soql_placeholders
from bot.core.error_rate import HourPoint, error_rate
from bot.core.playbook import StepBase, Strict, window_values
from bot.core.views import Fixed, Note, Paragraph, Part, ResultView, Strong
from bot.core.walkthrough import StepResult
from bot.kinds.base import Chart, Kind, RunContext, Shown, StepFailed, Upload, read_or_change
from bot.kinds.query import csv_bytes


class TrendSeries(Strict):
    label: str = Field(min_length=1, max_length=40)
    soql: str
    column: str  # the grouped column that tells a failure
    failed: str  # its value for a failure (Failed, org_chat_turn_error)


class ErrorTrendStep(StepBase):
    kind: Literal["error_trend"]
    series: list[TrendSeries] = Field(min_length=1, max_length=4)

    @model_validator(mode="after")
    def _sound(self) -> ErrorTrendStep:
        read_or_change(self)
        if not self.window_hours:
            raise ValueError("an error-rate trend needs window_hours")
        for series in self.series:
            missing = soql_placeholders(series.soql) - self.placeholders_available()
            if missing:
                raise ValueError(f"the {series.label} soql uses {sorted(missing)} but no such parameter is defined")
        return self


class ErrorTrend(Kind):
    name = "error_trend"
    model = ErrorTrendStep
    run_label = "Run queries"
    needs_org = True

    def manual(self, step: StepBase, values: dict[str, object]) -> str:
        assert isinstance(step, ErrorTrendStep)
        return "\n".join(f'sf data query --query "{build_soql(s.soql, values)}"' for s in step.series)

    def unavailable(self, step: StepBase) -> str:
        return "Salesforce is not connected: run these by hand (`sf data query`), then mark it done."

    def run(self, step: StepBase, values: dict[str, object], context: RunContext) -> StepResult:
        """One row per series and hour (the CSV and the chart read them), in the window's order."""
        assert isinstance(step, ErrorTrendStep) and context.org is not None
        bounds = window_values(step, context.now)
        rows, statements = [], []
        for series in step.series:
            soql = build_soql(series.soql, values)
            statements.append(soql)
            try:
                answer = context.org.query(soql)
            except SalesforceError as error:
                raise StepFailed(f"{series.label}: {error}") from None
            for point in error_rate(answer.records, bounds["since"], bounds["until"], series.column, series.failed):
                rows.append(
                    {
                        "series": series.label,
                        "hour": f"{point.start:%Y-%m-%d %H:00}",
                        "failed": point.failed,
                        "total": point.total,
                    }
                )
        statement = "\n".join(statements)
        return StepResult(at=context.now, statement=statement, rows=rows, total=len(rows), fetched=len(rows))

    def present(self, reference: str, step: StepBase, result: StepResult) -> Shown:
        assert isinstance(step, ErrorTrendStep)
        bounds = window_values(step, result.at)
        window = f"{bounds['since']:%Y-%m-%d %H:%M} to {bounds['until']:%H:%M} UTC"
        parts: list[Part] = [Paragraph(((Strong(step.title), f": failed over total per hour ({window})"),))]
        parts += [Fixed(trend_table(points), label) for label, points in _series(result).items()]
        parts.append(Note("The chart follows in the thread, with the severity matrix's line; the CSV has the numbers."))
        upload = Upload(f"{reference.lower()}-{step.id}.csv", csv_bytes(result.rows), f"{step.title} (every hour)")
        view = ResultView(f"{step.title}: {self.summary(step, result)}", "trend", tuple(parts))
        return Shown(view, (upload,), chart=True)

    def chart(self, reference: str, step: StepBase, result: StepResult) -> Chart:
        assert isinstance(step, ErrorTrendStep)
        bounds = window_values(step, result.at)
        return Chart(
            _series(result),
            f"{reference}: {step.title}",
            f"Error rate, {bounds['since']:%Y-%m-%d %H:%M} to {bounds['until']:%H:%M} UTC",
            f"{reference.lower()}-error-rate.png",
        )

    def summary(self, step: StepBase, result: StepResult) -> str:
        """The last hour of each series: `Pipeline executions 12/42 (28.6%) · Org Chat turns 4/4 (100.0%)`."""
        if result.dry_run:
            return super().summary(step, result)
        parts = []
        for label, points in _series(result).items():
            last = points[-1]
            rate = f" ({last.rate:.1%})" if last.total else ""
            parts.append(f"{label} {last.failed}/{last.total}{rate}")
        return " · ".join(parts) + " in the last hour"

    def describe(self, step: StepBase) -> list[str]:
        assert isinstance(step, ErrorTrendStep)
        lines = [f"{s.label}: {' '.join(s.soql.split())} (failed when {s.column} = {s.failed})" for s in step.series]
        lines.append(f"window: the last {step.window_hours} h, per UTC hour")
        return lines


def _series(result: StepResult) -> dict[str, list[HourPoint]]:
    series: dict[str, list[HourPoint]] = {}
    for row in result.rows:
        start = datetime.strptime(f"{row['hour']}+0000", "%Y-%m-%d %H:%M%z")
        series.setdefault(str(row["series"]), []).append(HourPoint(start, int(row["failed"]), int(row["total"])))
    return series


def trend_table(points: list[HourPoint]) -> str:
    lines = ["hour (UTC)        failed  total   rate"]
    for point in points:
        rate = f"{point.rate:6.1%}" if point.total else "     -"
        lines.append(f"{point.start:%Y-%m-%d %H:00}  {point.failed:6d} {point.total:6d} {rate}")
    return "\n".join(lines)


KIND = ErrorTrend()
