"""Evidence: what the probes of the runbook measured in the org, and the playbooks ranked by it.

A probe is a read-only query of a playbook (or of the first five minutes) with a rule that turns its rows into
evidence: a count over a threshold, a failure share, a rise between two windows, or a table gone quiet. Each
probe's answer is a `Finding`: evidence, clear (it looked and found nothing), or no data (no answer in time, the
org refused, or a filter of the bot's found nothing in the rows it could read), never "healthy" for a probe that
did not look at everything. Plain Python: the service runs the queries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from bot.core.playbook import SAMPLE_MINUTES, CountRule, GrowthRule, Probe, RiseRule, Rule, ShareRule, line
from bot.core.severity import Measured, Severity, SeverityMatrix
from bot.core.walkthrough import StepResult

SAMPLE_ROWS = 10  # rows of a probe kept for the thread reply and the post-mortem


class Status(StrEnum):
    EVIDENCE = "evidence"
    CLEAR = "clear"
    NO_DATA = "no data"


class Finding(BaseModel):
    """What one probe found in one incident: its line and threshold, how far past it (`strength`, 1 = at it), the
    measured value (`measure`: a share in percent, a count…), the first rows and the SOQL that fetched them."""

    model_config = ConfigDict(frozen=True)
    probe: str
    playbook: str | None  # None for the first five minutes' probes
    symptom: str
    status: Status
    line: str
    threshold: str = ""  # the bot's threshold and where to tune it; empty when the probe did not answer
    strength: float = 0.0
    measure: float | None = None
    statement: str = ""
    rows: list[dict[str, Any]] = Field(default_factory=list)


def stated(finding: Finding) -> str:
    """A finding's line with its threshold: how the picker, the rows, the timeline and the draft say it."""
    return f"{finding.line} ({finding.threshold})" if finding.threshold else finding.line


def window_text(hours: int | None) -> str:
    if not hours:
        return "the org"
    return "the last hour" if hours == 1 else f"the last {hours} h"


def evaluate(
    probe: Probe[Any], playbook: str | None, result: StepResult, earlier: StepResult | None, now: datetime
) -> Finding:
    """The finding of a probe whose query answered (`earlier`: the window before, for a rise; for a growth, the
    count the bot measured before, None when it has none)."""
    rule = probe.rule
    window = window_text(probe.query.window_hours)
    found: tuple[bool, float, float | None, dict[str, object]]
    if isinstance(rule, CountRule):
        count, top, top_count = _counted_by(result, rule.by) if rule.by else _counted(result, rule.column)
        found = (
            count >= rule.at_least,
            count / rule.at_least,
            count,
            {"count": count, "top": top, "top_count": top_count},
        )
    elif isinstance(rule, ShareRule):
        failed, total = _share(result.rows, rule)
        percent = round(100 * failed / total, 1) if total else 0.0
        measured = total >= rule.min_total
        threshold = rule.at_least_percent
        hit = measured and failed > 0 and (threshold is None or percent >= threshold)  # 0% failed is no evidence
        values: dict[str, object] = {"failed": failed, "total": total, "percent": _number(percent)}
        found = hit, percent / (threshold or 100), percent if measured else None, values
    elif isinstance(rule, GrowthRule):
        count = result.total
        if earlier is None:
            return no_data(
                probe,
                playbook,
                f"no data: {count} now, and no count the bot measured {rule.over_minutes} min before to compare "
                f"(the worker measures it every {SAMPLE_MINUTES} min)",
            )
        growth = count - earlier.total
        values = {"count": count, "previous": earlier.total, "growth": growth, "then": f"{earlier.at:%H:%M} UTC"}
        found = growth >= rule.at_least, growth / rule.at_least, count, values
    elif isinstance(rule, RiseRule):
        count, _, _ = _counted(result, rule.column)
        previous = _counted(earlier, rule.column)[0] if earlier else 0
        factor = count / previous if previous else float(count)
        hit = count >= rule.at_least and factor >= rule.factor
        values = {"count": count, "previous": previous, "factor": _number(round(factor, 1))}
        found = hit, min(count / rule.at_least, factor / rule.factor), count, values
    else:
        last = _newest(result.rows, rule.column)
        minutes = int((now - last).total_seconds() // 60) if last else None
        hit = minutes is None or minutes >= rule.after_minutes
        age = minutes if minutes is not None else (probe.query.window_hours or 0) * 60
        shown = f"{last:%H:%M} UTC" if last else f"none in {window}"
        found = hit, age / rule.after_minutes, age, {"minutes": age, "last": shown}
    hit, strength, measure, values = found
    said = line(probe.evidence, {**values, "window": window}) if hit else _clear(rule, values, window)
    if result.counted:
        said += f" ({result.counted})"
    status = Status.EVIDENCE if hit else Status.CLEAR
    if result.unread:  # the bot filtered only the newest rows: evidence is a lower bound, nothing found is not clear
        said += f" (at least: {result.unread_said})" if hit else f": {result.unread_said}, so not clear"
        status = status if hit else Status.NO_DATA
    return Finding(
        probe=probe.id,
        playbook=playbook,
        symptom=probe.symptom,
        status=status,
        line=said,
        threshold=f"threshold: {threshold_text(rule)}; the bot's default, probe `{probe.id}` in playbooks/",
        strength=round(strength, 3) if hit else 0.0,
        measure=measure,
        statement=result.statement,
        rows=result.rows[:SAMPLE_ROWS],
    )


def no_data(probe: Probe[Any], playbook: str | None, why: str) -> Finding:
    return Finding(probe=probe.id, playbook=playbook, symptom=probe.symptom, status=Status.NO_DATA, line=why)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def threshold_text(rule: Rule) -> str:
    """The rule's threshold in words: the runbook gives symptoms, not numbers, so each is the bot's to state."""
    if isinstance(rule, CountRule):
        return f"{rule.at_least} or more"
    if isinstance(rule, ShareRule):
        share = f"{_number(rule.at_least_percent)}% or more failed" if rule.at_least_percent else "any failed"
        return f"{share}, of at least {rule.min_total} counted"
    if isinstance(rule, RiseRule):
        return f"{rule.at_least} or more and {_number(rule.factor)}× the window before"
    if isinstance(rule, GrowthRule):
        return f"{rule.at_least} or more than {rule.over_minutes} min before"
    return f"newest row {rule.after_minutes} min old or more"


def _clear(rule: Rule, values: dict[str, object], window: str) -> str:
    if isinstance(rule, CountRule):
        return f"{values['count']} in {window}"
    if isinstance(rule, ShareRule):
        return f"{values['percent']}% failed, {values['failed']} of {values['total']} in {window}"
    if isinstance(rule, RiseRule):
        return f"{values['count']} in {window}, {values['previous']} in the window before"
    if isinstance(rule, GrowthRule):
        return f"{values['count']} now, {values['previous']} at {values['then']}"
    return f"newest row at {values['last']}"


def _counted(result: StepResult, column: str | None) -> tuple[int, str, int]:
    """The count, the biggest row's label and its count."""
    if column is None:
        return result.total, "", 0
    counts = [(int(row.get(column) or 0), row) for row in result.rows]
    if not counts:
        return 0, "", 0
    top_count, top_row = max(counts, key=lambda pair: pair[0])
    label = next((str(v) for k, v in top_row.items() if k != column), "")
    return sum(count for count, _ in counts), label, top_count


def _counted_by(result: StepResult, by: str) -> tuple[int, str, int]:
    """The rows kept, the commonest value of `by` among them and how often it came."""
    values = Counter(str(row.get(by) or "") for row in result.rows)
    top, top_count = values.most_common(1)[0] if values else ("", 0)
    return result.total, top, top_count


def _share(rows: list[dict[str, Any]], rule: ShareRule) -> tuple[int, int]:
    failed = total = 0
    for row in rows:
        count = int(row.get(rule.count) or 0)
        total += count
        if str(row.get(rule.column)) == rule.failed:
            failed += count
    return failed, total


def _newest(rows: list[dict[str, Any]], column: str) -> datetime | None:
    stamps = [datetime.fromisoformat(str(row[column]).replace("+0000", "+00:00")) for row in rows if row.get(column)]
    return max(stamps) if stamps else None


def earlier_window(bounds: dict[str, datetime]) -> dict[str, datetime]:
    """The window just before `bounds`, as long as it."""
    length: timedelta = bounds["until"] - bounds["since"]
    return {"since": bounds["since"] - length, "until": bounds["since"]}


@dataclass(frozen=True)
class Ranked:
    """A playbook with what its probes found, in the order the picker shows them."""

    key: str
    number: int
    title: str
    findings: tuple[Finding, ...]

    @property
    def evidence(self) -> tuple[Finding, ...]:
        return tuple(sorted((f for f in self.findings if f.status is Status.EVIDENCE), key=lambda f: -f.strength))

    @property
    def status(self) -> Status | None:
        """Evidence if any probe found some, no data if any probe did not answer, clear if all looked and found
        nothing; None for a playbook without probes."""
        if not self.findings:
            return None
        statuses = {f.status for f in self.findings}
        for status in (Status.EVIDENCE, Status.NO_DATA, Status.CLEAR):
            if status in statuses:
                return status
        return None


class PlaybookLike(Protocol):
    """What ranking needs of a playbook."""

    @property
    def key(self) -> str: ...

    @property
    def number(self) -> int: ...

    @property
    def title(self) -> str: ...


def rank(playbooks: Sequence[PlaybookLike], findings: Iterable[Finding]) -> list[Ranked]:
    """Playbooks with evidence first (strongest first), then the ones whose probes did not answer, then the ones
    found clear, then the ones without probes; in the runbook's order within each."""
    by_playbook: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.playbook:
            by_playbook.setdefault(finding.playbook, []).append(finding)
    ranked = [Ranked(p.key, p.number, p.title, tuple(by_playbook.get(p.key, ()))) for p in playbooks]
    order = {Status.EVIDENCE: 0, Status.NO_DATA: 1, Status.CLEAR: 2, None: 3}

    def position(item: Ranked) -> tuple[int, float, int]:
        strongest = item.evidence[0].strength if item.evidence else 0.0
        return order[item.status], -strongest, item.number

    return sorted(ranked, key=position)


@dataclass(frozen=True)
class SeveritySuggestion:
    """The severity the measurements call for, when it is not the declared one, and the finding that says so:
    the matrix's words it stands for (`reads_as`), and the share that decided, when one did."""

    measured: Severity
    declared: Severity
    because: Finding
    threshold: float | None
    reads_as: str

    @property
    def raise_(self) -> bool:
        return self.measured.value < self.declared.value


def suggest_severity(
    matrix: SeverityMatrix, findings: Iterable[Finding], declared: Severity
) -> SeveritySuggestion | None:
    """A raise to the most severe level the findings meet, when it is above the declared one. A lower only when
    every level from the declared one down to the one met lists all its grounds as measured
    (`every_ground_measured`) and each was measured and found absent: a level's other grounds (one provider
    down, exfiltration suspected) may be why it was declared, and are not the bot's to judge. Otherwise nothing."""
    by_probe = {finding.probe: finding for finding in findings}
    for level in matrix.severities:
        met = next((c for c in level.measured_when if _meets(c, by_probe.get(c.probe))), None)
        if met is None:
            continue
        if level.level is declared:
            return None
        suggestion = SeveritySuggestion(
            level.level, declared, by_probe[met.probe], met.at_least_percent, met.reads_as or level.definition
        )
        if suggestion.raise_:
            return suggestion
        above = [other for other in matrix.severities if declared.value <= other.level.value < level.level.value]
        measured_absent = all(
            other.every_ground_measured and all(_absent(c, by_probe.get(c.probe)) for c in other.measured_when)
            for other in above
        )
        return suggestion if measured_absent else None
    return None


def _meets(condition: Measured, finding: Finding | None) -> bool:
    if finding is None or finding.status is not Status.EVIDENCE:
        return False
    threshold = condition.at_least_percent
    return threshold is None or (finding.measure is not None and finding.measure >= threshold)


def _absent(condition: Measured, finding: Finding | None) -> bool:
    """Measured, and not met (a probe that did not answer, or measured too little, says nothing)."""
    if finding is None or finding.status is Status.NO_DATA:
        return False
    if condition.at_least_percent is not None and finding.measure is None:
        return False
    return not _meets(condition, finding)


class Probed(BaseModel):
    """One run of every probe in an incident: started at `at`, done or still probing, what each found, and the
    message in the channel that shows the rows."""

    model_config = ConfigDict(frozen=True)
    at: datetime
    done: bool = False
    probes: int = 0
    findings: tuple[Finding, ...] = ()
    rows_link: str | None = None

    def with_evidence(self) -> set[str]:
        return {f.probe for f in self.findings if f.status is Status.EVIDENCE}

    def in_order(self) -> list[Finding]:
        """Evidence first (strongest first), then no data, then clear: how the rows and the draft list them."""
        order = {Status.EVIDENCE: 0, Status.NO_DATA: 1, Status.CLEAR: 2}
        return sorted(self.findings, key=lambda f: (order[f.status], -f.strength))
