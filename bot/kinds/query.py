"""A query: SOQL the bot runs against the org (REST or Tooling API) and shows as a table, with the whole result
(up to the export limit) as CSV in the thread.

Every value reaches the SOQL through `format_soql` (the time window as explicit UTC bounds, never
`LAST_N_HOURS`); a long text area is filtered by the bot after the query, since SOQL cannot filter it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.soql import build_soql, soql_placeholders
from bot.core.playbook import StepBase, Strict, window_values
from bot.core.timeline import EntryKind
from bot.core.views import TABLE_ROWS, Note, Paragraph, ResultView, Rows, Strong, columns
from bot.core.walkthrough import SCAN_LIMIT, StepResult
from bot.kinds.base import Kind, RunContext, Shown, StepFailed, Upload, read_or_change

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet evaluates (OWASP CSV injection)


class TextFilter(Strict):
    """Filters rows in Python: long text areas cannot be filtered in SOQL's WHERE. A row stays when `field`
    contains the text, or asks for a SOQL `LIMIT` of at least `limit_at_least` rows."""

    field: str
    contains: str | None = None
    limit_at_least: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> TextFilter:
        if (self.contains is None) == (self.limit_at_least is None):
            raise ValueError("give contains or limit_at_least")
        return self

    def keeps(self, row: dict[str, Any]) -> bool:
        text = str(row.get(self.field) or "")
        if self.contains is not None:
            return self.contains.lower() in text.lower()
        limits = [int(n) for n in re.findall(r"\bLIMIT\s+(\d+)", text, re.IGNORECASE)]
        return any(n >= (self.limit_at_least or 0) for n in limits)

    def describe(self) -> str:
        wanted = f"contains “{self.contains}”" if self.contains is not None else f"asks LIMIT ≥ {self.limit_at_least}"
        return f"filtered by the bot: {self.field} {wanted}"


class PatternFilter(Strict):
    """Keeps the rows where one of `fields` matches the operator's pattern (the setting `setting`, a regular
    expression, case-insensitive): what the runbook names but whose text it does not give, such as a provider's
    5xx or timeout (`what`). Unset, every row is kept, and the result says so."""

    fields: tuple[str, ...] = Field(min_length=1)
    setting: str = Field(pattern=r"^[a-z][a-z0-9_]*_pattern$")
    what: str = Field(min_length=1, max_length=80)

    def apply(self, rows: list[dict[str, Any]], settings: Mapping[str, str | None]) -> tuple[list[dict[str, Any]], str]:
        """The rows kept, and what they count."""
        fields, name = " or ".join(self.fields), self.setting.upper()
        pattern = settings.get(self.setting)
        if not pattern:
            return rows, f"counted: every one, {self.what} not told apart: {name} is not set"
        compiled = re.compile(pattern, re.IGNORECASE)
        kept = [row for row in rows if any(compiled.search(str(row.get(f) or "")) for f in self.fields)]
        return kept, f"counted: {self.what}, {fields} matching {name}"

    def describe(self) -> str:
        return f"filtered by the bot: {' or '.join(self.fields)} matching {self.setting.upper()} ({self.what})"


class FirstSeen(Strict):
    """Rows become what each `key` (an actor) did in the last `recent_hours` and never in the rest of the window:
    the value `pattern` captures from `field` (the SObject after FROM), with its first time and how often."""

    key: str
    field: str
    pattern: str
    recent_hours: int = Field(ge=1)

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        if re.compile(value).groups != 1:
            raise ValueError("the pattern captures exactly one group")
        return value

    def rows(self, rows: list[dict[str, Any]], at: str, now: datetime) -> list[dict[str, Any]]:
        since = now - timedelta(hours=self.recent_hours)
        before: set[tuple[str, str]] = set()
        recent: dict[tuple[str, str], dict[str, Any]] = {}
        for row in sorted(rows, key=lambda r: str(r.get(at) or "")):
            when = datetime.fromisoformat(str(row.get(at)).replace("+0000", "+00:00"))
            for value in re.findall(self.pattern, str(row.get(self.field) or ""), re.IGNORECASE):
                pair = (str(row.get(self.key) or ""), value)
                if when < since:
                    before.add(pair)
                elif pair not in before:
                    seen = recent.setdefault(pair, {self.key: pair[0], "first_seen": row.get(at), "value": value})
                    seen["times"] = seen.get("times", 0) + 1
        return [r for pair, r in recent.items() if pair not in before]


class Remember(Strict):
    """A parameter the incident keeps from the result, for the forms that follow: `column` of the first row (the
    SOQL's ORDER BY says which comes first), less `strip_prefix`, skipping a row whose value is already the
    parameter `unlike` (the fallback provider is not the dead one)."""

    parameter: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    column: str
    strip_prefix: str = ""
    unlike: str | None = None

    def value(self, rows: list[dict[str, Any]], known: Mapping[str, str]) -> str | None:
        avoid = known.get(self.unlike) if self.unlike else None
        for row in rows:
            value = str(row.get(self.column) or "").removeprefix(self.strip_prefix)
            if value and value != avoid:
                return value
        return None


class QueryStep(StepBase):
    kind: Literal["query"]
    soql: str  # built with simple_salesforce.format_soql; {since} and {until} bound the time window
    api: Literal["rest", "tooling"] = "rest"
    text_filter: TextFilter | None = None
    pattern_filter: PatternFilter | None = None
    first_seen: FirstSeen | None = None  # needs CreatedDate in SELECT and a window longer than recent_hours
    row_limit: int | None = Field(default=None, ge=1, le=2000)  # the runbook's own LIMIT, where it sets one
    remember: Remember | None = None

    @property
    def filtered_by_bot(self) -> bool:
        return bool(self.text_filter or self.pattern_filter or self.first_seen)

    @model_validator(mode="after")
    def _sound(self) -> QueryStep:
        read_or_change(self)
        missing = soql_placeholders(self.soql) - self.placeholders_available()
        if missing:
            hint = " (set window_hours for {since}/{until})" if missing & {"since", "until"} else ""
            raise ValueError(f"soql uses {sorted(missing)} but no such parameter is defined{hint}")
        if re.search(r"LAST_N_HOURS", self.soql, re.IGNORECASE):
            raise ValueError("LAST_N_HOURS is not a SOQL date literal: bound the window with {since}")
        if self.first_seen and (
            not self.window_hours
            or self.window_hours <= self.first_seen.recent_hours
            or not re.search(r"\bCreatedDate\b.*\bFROM\b", self.soql, re.IGNORECASE | re.DOTALL)
        ):
            raise ValueError("first_seen needs CreatedDate in SELECT and window_hours longer than recent_hours")
        if self.filtered_by_bot and not re.search(r"ORDER\s+BY\s+\w+\s+DESC\s*$", self.soql, re.IGNORECASE):
            raise ValueError("a filter of the bot's reads the newest rows first: end soql with ORDER BY <a date> DESC")
        return self


class Query(Kind):
    name = "query"
    model = QueryStep
    run_label = "Run query"
    needs_org = True
    result_entry = EntryKind.QUERY

    def manual(self, step: StepBase, values: dict[str, object]) -> str:
        assert isinstance(step, QueryStep)
        flag = " --use-tooling-api" if step.api == "tooling" else ""
        return f'sf data query{flag} --query "{build_soql(step.soql, values)}"'

    def unavailable(self, step: StepBase) -> str:
        return "Salesforce is not connected: run this by hand (`sf data query`), then mark it done."

    def run(self, step: StepBase, values: dict[str, object], context: RunContext) -> StepResult:
        assert isinstance(step, QueryStep) and context.org is not None
        soql = build_soql(step.soql, values)
        limit = min(step.row_limit or context.export_limit, context.export_limit)
        wanted = step.text_filter
        every_row = step.filtered_by_bot
        try:
            # A filter of the bot's runs after the query, on the newest rows up to the read ceiling; a LIMIT applies
            # after the filter.
            read = SCAN_LIMIT if every_row else limit
            answer = context.org.query(soql, tooling=step.api == "tooling", limit=read)
        except SalesforceError as error:
            raise StepFailed(str(error)) from None
        rows, total = answer.records, answer.total_size
        unread = max(total - len(rows), 0) if every_row else 0
        counted = ""
        if wanted is not None:
            rows = [row for row in rows if wanted.keeps(row)]
            total = len(rows)
        if step.pattern_filter is not None:
            rows, counted = step.pattern_filter.apply(rows, context.step_settings)
            total = len(rows)
        if step.first_seen is not None:
            rows = step.first_seen.rows(rows, "CreatedDate", context.now)
            total = len(rows)
        return StepResult(
            at=context.now,
            statement=soql,
            rows=rows[:limit],
            total=total,
            fetched=min(len(rows), limit),
            unread=unread,
            counted=counted,
        )

    def present(self, reference: str, step: StepBase, result: StepResult) -> Shown:
        assert isinstance(step, QueryStep)
        window = ""
        bounds = window_values(step, result.at)
        if bounds:
            window = f"{bounds['since']:%Y-%m-%d %H:%M} to {bounds['until']:%H:%M} UTC"
        uploads: tuple[Upload, ...] = ()
        if result.rows:
            title = f"{step.title} ({export_label(result, step.row_limit)})"
            uploads = (Upload(f"{reference.lower()}-{step.id}.csv", csv_bytes(result.rows), title),)
        return Shown(result_view(step.title, result, window, step.row_limit), uploads)

    def remembers(self, step: StepBase, result: StepResult, known: Mapping[str, str]) -> dict[str, str]:
        assert isinstance(step, QueryStep)
        value = step.remember.value(result.rows, known) if step.remember else None
        return {step.remember.parameter: value} if step.remember and value else {}

    def summary(self, step: StepBase, result: StepResult) -> str:
        names = columns(result.rows)
        if result.rows and len(names) == 2 and "c" in names:
            label = next(name for name in names if name != "c")
            return " · ".join(f"{row.get(label)} {row.get('c')}" for row in result.rows[:6])
        return f"{result.total} row{'s' if result.total != 1 else ''}"

    def describe(self, step: StepBase) -> list[str]:
        assert isinstance(step, QueryStep)
        api = " (Tooling API)" if step.api == "tooling" else ""
        lines = [f"SOQL{api}: {' '.join(step.soql.split())}"]
        if step.window_hours:
            lines.append(f"window: the last {step.window_hours} h, as {{since}} … {{until}}")
        if step.text_filter:
            lines.append(step.text_filter.describe())
        if step.pattern_filter:
            lines.append(step.pattern_filter.describe())
        if step.first_seen:
            lines.append(
                f"kept: {step.first_seen.field} values new to their {step.first_seen.key} in the last "
                f"{step.first_seen.recent_hours} h"
            )
        if step.row_limit:
            lines.append(f"at most {step.row_limit} rows (the runbook's LIMIT)")
        return lines


def export_label(result: StepResult, row_limit: int | None) -> str:
    """How much of the result the CSV holds, honestly: all of it, or the first N of the total."""
    if result.fetched >= result.total:
        return f"all {result.total:,} row{'s' if result.total != 1 else ''}"
    why = " (the runbook's LIMIT)" if row_limit and result.fetched == row_limit else ""
    return f"first {result.fetched:,} of {result.total:,} rows{why}"


def result_view(title: str, result: StepResult, window: str, row_limit: int | None) -> ResultView:
    total = result.total
    count = f"{total} row{'s' if total != 1 else ''}"
    shown = f", the first {min(TABLE_ROWS, len(result.rows))} below" if len(result.rows) > TABLE_ROWS else ""
    head = Paragraph(((Strong(title), f": {count}{shown}" + (f" ({window})" if window else "")),))
    ceiling = (Note(f"Not all read: {result.unread_said}."),) if result.unread else ()
    if not result.rows:
        return ResultView(f"{title}: {count}", "results", (head, *ceiling))
    note = Note(f"CSV in the thread: {export_label(result, row_limit)}.")
    return ResultView(f"{title}: {count}", "results", (head, Rows(result.rows), note, *ceiling))


def neutralised(value: Any) -> Any:
    """A cell a spreadsheet will not evaluate: text starting with = + - @ tab or CR gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(rows), extrasaction="ignore")
    writer.writeheader()
    writer.writerows({name: neutralised(value) for name, value in row.items()} for row in rows)
    return buffer.getvalue().encode()


KIND = Query()
