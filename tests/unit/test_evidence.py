"""Probes, their rules, the ranking they make, the severity they measure and related incidents: plain Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bot.adapters.playbook_files import BUNDLED_PLAYBOOKS, load_runbook
from bot.config import STEP_SETTINGS
from bot.core.evidence import Finding, Status, earlier_window, evaluate, no_data, rank, stated, suggest_severity
from bot.core.incident import Incident
from bot.core.playbook import Playbook, Probe
from bot.core.related import Past, related, title_similarity
from bot.core.severity import Severity, SeverityMatrix
from bot.core.walkthrough import StepResult
from bot.kinds import Step
from bot.kinds.query import PatternFilter

NOW = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
RUNBOOK = load_runbook(BUNDLED_PLAYBOOKS, STEP_SETTINGS)


def probe(**changes: Any) -> Probe[Step]:
    data: dict[str, Any] = {
        "id": "rate-limit-errors",
        "symptom": "Vendor returns 429 repeatedly",
        "query": {
            "window_hours": 1,
            "soql": "SELECT Actor_Id__c, COUNT(Id) c FROM FM_Run_Audit__c WHERE CreatedDate >= {since} "
            "AND CreatedDate < {until} GROUP BY Actor_Id__c",
        },
        "rule": {"type": "count", "column": "c", "at_least": 20},
        "evidence": "{{ count }} errors in {{ window }}, {{ top_count }} from {{ top }}",
    }
    data.update(changes)
    return Probe[Step].model_validate(data)


def result(rows: list[dict[str, Any]], total: int | None = None) -> StepResult:
    return StepResult(at=NOW, statement="SELECT …", rows=rows, total=len(rows) if total is None else total)


def test_a_count_over_its_threshold_is_evidence_with_the_biggest_row() -> None:
    rows = [{"Actor_Id__c": "005A", "c": 380}, {"Actor_Id__c": "005B", "c": 32}]
    found = evaluate(probe(), "rate-limit-storm", result(rows), None, NOW)
    assert found.status is Status.EVIDENCE
    assert found.line == "412 errors in the last hour, 380 from 005A"
    assert (found.strength, found.measure, found.statement) == (20.6, 412, "SELECT …")
    below = evaluate(probe(), "rate-limit-storm", result([{"Actor_Id__c": "005A", "c": 19}]), None, NOW)
    assert (below.status, below.strength, below.line) == (Status.CLEAR, 0.0, "19 in the last hour")
    at = evaluate(probe(), "rate-limit-storm", result([{"Actor_Id__c": "005A", "c": 20}]), None, NOW)
    assert at.status is Status.EVIDENCE  # at the threshold counts


def test_each_line_names_its_threshold_as_the_bots_and_where_to_tune_it() -> None:
    rows = [{"Actor_Id__c": "005A", "c": 19}]
    assert stated(evaluate(probe(), "q", result(rows), None, NOW)) == (
        "19 in the last hour (threshold: 20 or more; the bot's default, probe `rate-limit-errors` in playbooks/)"
    )
    assert stated(no_data(probe(), "q", "no data: no answer within 30 s")) == "no data: no answer within 30 s"
    rules = {
        "share": (
            {"type": "share", "column": "s", "failed": "F", "min_total": 20},
            "any failed, of at least 20 counted",
        ),
        "percent": (
            {"type": "share", "column": "s", "failed": "F", "at_least_percent": 10, "min_total": 20},
            "10% or more failed, of at least 20 counted",
        ),
        "rise": ({"type": "rise", "at_least": 10, "factor": 2}, "10 or more and 2× the window before"),
        "rise-half": ({"type": "rise", "at_least": 3, "factor": 1.5}, "3 or more and 1.5× the window before"),
        "stale": ({"type": "stale", "column": "CreatedDate", "after_minutes": 30}, "newest row 30 min old or more"),
    }
    for name, (rule, words) in rules.items():
        found = evaluate(probe(id=name, rule=rule, evidence="in {{ window }}"), "q", result([]), result([]), NOW)
        assert found.threshold == f"threshold: {words}; the bot's default, probe `{name}` in playbooks/", name


def test_rows_left_unread_make_evidence_a_lower_bound_and_nothing_found_no_data() -> None:
    counted = probe(rule={"type": "count", "at_least": 1}, evidence="{{ count }} turns")
    partial = StepResult(at=NOW, statement="SELECT …", rows=[], total=0, unread=1)
    unread = "the bot filtered the newest 10,000 rows the org matched (its read ceiling); 1 older ones were not read"
    assert (evaluate(counted, None, partial, None, NOW).status, evaluate(counted, None, partial, None, NOW).line) == (
        Status.NO_DATA,
        f"0 in the last hour: {unread}, so not clear",
    )
    found = evaluate(counted, None, partial.model_copy(update={"total": 1}), None, NOW)
    assert (found.status, found.line) == (Status.EVIDENCE, f"1 turns (at least: {unread})")
    complete = evaluate(counted, None, partial.model_copy(update={"unread": 0}), None, NOW)
    assert (complete.status, complete.line) == (Status.CLEAR, "0 in the last hour")


def test_a_growth_compares_the_count_with_the_one_measured_before() -> None:
    growing = probe(rule={"type": "growth", "at_least": 10}, evidence="{{ growth }} more than at {{ then }}")
    then = StepResult(at=NOW - timedelta(minutes=60), statement="", rows=[], total=5)
    at = evaluate(growing, "q", result([], total=15), then, NOW)
    assert (at.status, at.line, at.strength, at.measure) == (Status.EVIDENCE, "10 more than at 13:00 UTC", 1.0, 15)
    below = evaluate(growing, "q", result([], total=14), then, NOW)
    assert (below.status, below.line) == (Status.CLEAR, "14 now, 5 at 13:00 UTC")
    unknown = evaluate(growing, "q", result([], total=500), None, NOW)
    assert unknown.status is Status.NO_DATA and unknown.line.startswith("no data: 500 now, and no count")


def test_a_count_by_a_field_counts_the_rows_kept_and_names_the_commonest_value() -> None:
    by = probe(rule={"type": "count", "by": "Stage_Type__c", "at_least": 3}, evidence="{{ top_count }} {{ top }}")
    rows = [{"Stage_Type__c": "llm_anthropic"}, {"Stage_Type__c": "llm_openai"}, {"Stage_Type__c": "llm_anthropic"}]
    at = evaluate(by, None, result(rows), None, NOW)
    assert (at.status, at.line, at.measure) == (Status.EVIDENCE, "2 llm_anthropic", 3)
    below = evaluate(by, None, result(rows[:2]), None, NOW)
    assert (below.status, below.line) == (Status.CLEAR, "2 in the last hour")
    with pytest.raises(ValueError, match="not both"):
        probe(rule={"type": "count", "by": "Stage_Type__c", "column": "c", "at_least": 3})


def test_a_pattern_of_the_operators_keeps_matching_rows_and_says_what_was_counted() -> None:
    wanted = PatternFilter(fields=("Response", "Error"), setting="provider_failure_pattern", what="5xx")
    rows = [{"Response": "HTTP 503", "Error": ""}, {"Response": "", "Error": "Timed out"}, {"Response": "HTTP 429"}]
    kept, said = wanted.apply(rows, {"provider_failure_pattern": r"HTTP 5\d\d|timed out"})
    assert kept == rows[:2] and said == "counted: 5xx, Response or Error matching PROVIDER_FAILURE_PATTERN"
    every, unset = wanted.apply(rows, {"provider_failure_pattern": None})
    assert every == rows and unset == "counted: every one, 5xx not told apart: PROVIDER_FAILURE_PATTERN is not set"
    counted = probe(rule={"type": "count", "at_least": 1}, evidence="{{ count }} stages")
    found = evaluate(counted, None, result(kept).model_copy(update={"counted": said}), None, NOW)
    assert found.line == f"2 stages ({said})"


def test_a_count_without_a_column_is_what_the_org_matched() -> None:
    counted = probe(rule={"type": "count", "at_least": 1}, evidence="{{ count }} turns")
    assert evaluate(counted, None, result([], total=2), None, NOW).line == "2 turns"
    assert evaluate(counted, None, result([], total=0), None, NOW).status is Status.CLEAR


def test_a_share_is_a_measurement_from_its_minimum_and_evidence_from_its_threshold() -> None:
    share = {"type": "share", "column": "Status__c", "failed": "Failed", "min_total": 20}
    measured = probe(rule=share, evidence="{{ percent }}% failed ({{ failed }} of {{ total }}) in {{ window }}")
    rows = [{"Status__c": "Failed", "c": 160}, {"Status__c": "Succeeded", "c": 261}]
    found = evaluate(measured, None, result(rows), None, NOW)
    assert (found.status, found.measure, found.line) == (
        Status.EVIDENCE,
        38.0,
        "38% failed (160 of 421) in the last hour",
    )
    few = evaluate(measured, None, result([{"Status__c": "Failed", "c": 19}]), None, NOW)
    assert (few.status, few.measure) == (Status.CLEAR, None)  # 19 executions are too few to measure a share
    threshold = probe(rule={**share, "at_least_percent": 40}, evidence="{{ percent }}%")
    assert evaluate(threshold, None, result(rows), None, NOW).status is Status.CLEAR


def test_a_rise_compares_the_window_with_the_one_before() -> None:
    rising = probe(
        rule={"type": "rise", "at_least": 10, "factor": 2},
        evidence="{{ count }} now, {{ previous }} before ({{ factor }}x)",
        query={
            "window_hours": 1,
            "soql": "SELECT COUNT() FROM Q__c WHERE CreatedDate >= {since} AND CreatedDate < {until}",
        },
    )
    assert evaluate(rising, "q", result([], 26), result([], 8), NOW).line == "26 now, 8 before (3.2x)"
    assert evaluate(rising, "q", result([], 26), result([], 13), NOW).status is Status.EVIDENCE  # exactly twice
    assert evaluate(rising, "q", result([], 26), result([], 14), NOW).status is Status.CLEAR
    assert evaluate(rising, "q", result([], 9), result([], 0), NOW).status is Status.CLEAR  # below at_least
    bounds = {"since": NOW - timedelta(hours=1), "until": NOW}
    assert earlier_window(bounds) == {"since": NOW - timedelta(hours=2), "until": NOW - timedelta(hours=1)}


def test_stale_is_the_age_of_the_newest_row_or_no_row_at_all() -> None:
    stale = probe(
        rule={"type": "stale", "column": "CreatedDate", "after_minutes": 30},
        evidence="none for {{ minutes }} min (newest: {{ last }})",
        query={"window_hours": 24, "soql": "SELECT CreatedDate FROM A__c WHERE CreatedDate >= {since} LIMIT 1"},
    )
    fresh = evaluate(stale, "telemetry", result([{"CreatedDate": "2026-11-25T13:59:00.000+0000"}]), None, NOW)
    assert (fresh.status, fresh.line) == (Status.CLEAR, "newest row at 13:59 UTC")
    old = evaluate(stale, "telemetry", result([{"CreatedDate": "2026-11-25T13:13:00.000+0000"}]), None, NOW)
    assert (old.status, old.line) == (Status.EVIDENCE, "none for 47 min (newest: 13:13 UTC)")
    empty = evaluate(stale, "telemetry", result([]), None, NOW)
    assert (empty.status, empty.line) == (Status.EVIDENCE, "none for 1440 min (newest: none in the last 24 h)")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"evidence": "{{ percent }}%"}, "'percent' is undefined (a count rule offers count, top, top_count, window)"),
        ({"query": {"kind": "apex", "risk": "change", "apex": "FMConfig.refresh();"}}, "read-only `query` step"),
        (
            {
                "query": {
                    "soql": "SELECT Id FROM A__c WHERE Name = {name}",
                    "parameters": [{"name": "name", "label": "N"}],
                }
            },
            "takes no parameters",
        ),
        ({"query": {"soql": "SELECT Id FROM A__c WHERE CreatedDate = LAST_N_HOURS:1"}}, "LAST_N_HOURS"),
        (
            {"rule": {"type": "rise", "at_least": 1, "factor": 2}, "query": {"soql": "SELECT COUNT() FROM A__c"}},
            "window",
        ),
        ({"rule": {"type": "share", "column": "S", "failed": "F", "at_least_percent": 0}}, "greater than 0"),
    ],
)
def test_the_checker_refuses_a_probe_it_could_not_run_safely(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        probe(**changes)
    assert problem in str(refused.value)


def finding(playbook: str | None, status: Status, strength: float = 0.0, probe_id: str = "p", **more: Any) -> Finding:
    return Finding(probe=probe_id, playbook=playbook, symptom="s", status=status, line="l", strength=strength, **more)


def test_ranking_puts_evidence_first_strongest_first_then_no_data_then_clear_then_unprobed() -> None:
    findings = [
        finding("provider-outage", Status.CLEAR),
        finding("rate-limit-storm", Status.EVIDENCE, 20.6),
        finding("prompt-injection", Status.EVIDENCE, 2.0),
        finding("prompt-injection", Status.CLEAR),
        finding("circuit-breaker", Status.NO_DATA),
        finding("telemetry", Status.CLEAR),
        finding(None, Status.EVIDENCE, 99.0),  # a measurement ranks no playbook
    ]
    order = [(r.number, r.status) for r in rank(RUNBOOK.playbooks, findings)]
    assert order == [
        (2, Status.EVIDENCE),
        (4, Status.EVIDENCE),
        (6, Status.NO_DATA),
        (1, Status.CLEAR),
        (7, Status.CLEAR),
        (3, None),
        (5, None),
    ]
    assert [r.number for r in rank(RUNBOOK.playbooks, [])] == [1, 2, 3, 4, 5, 6, 7]  # before the probes answer


def share(percent: float | None, status: Status = Status.EVIDENCE) -> Finding:
    return finding(None, status, probe_id="failure-share", measure=percent)


def test_the_severity_matrix_as_data_suggests_only_when_it_disagrees() -> None:
    matrix = RUNBOOK.severities
    suggestion = suggest_severity(matrix, [share(38.0)], Severity.SEV3)
    assert suggestion is not None and (suggestion.measured, suggestion.raise_, suggestion.threshold) == (
        Severity.SEV2,
        True,
        10,
    )
    assert suggest_severity(matrix, [share(38.0)], Severity.SEV2) is None  # agrees
    assert suggest_severity(matrix, [share(9.9)], Severity.SEV3) is None  # below every threshold: nothing to say
    assert suggest_severity(matrix, [share(10.0)], Severity.SEV3) is not None  # the threshold itself counts
    assert suggest_severity(matrix, [share(None)], Severity.SEV3) is None  # too few executions to measure
    assert suggest_severity(matrix, [share(60.0, Status.NO_DATA)], Severity.SEV3) is None
    everything = suggest_severity(matrix, [share(100.0)], Severity.SEV2)
    assert everything is not None and everything.measured is Severity.SEV1
    # SEV-1 declared (say, exfiltration suspected), 12% failing: the matrix's SEV-1 has grounds the bot does not
    # measure, so it does not offer to lower it
    assert suggest_severity(matrix, [share(12.0)], Severity.SEV1) is None
    exfiltration = finding("prompt-injection", Status.EVIDENCE, 3.0, probe_id="near-max-limits")
    suspected = suggest_severity(matrix, [exfiltration, share(12.0)], Severity.SEV3)
    assert suspected is not None and (suspected.measured, suspected.because.probe) == (Severity.SEV1, "near-max-limits")
    assert matrix.line() == (Severity.SEV2, 10)  # the chart's dashed line
    assert (suspected.reads_as, everything.reads_as) == ("data exfiltration suspected", "All Org Chat / pipelines down")


def test_a_lower_severity_is_suggested_only_when_every_ground_was_measured_absent() -> None:
    levels = [level.model_dump() for level in RUNBOOK.severities.severities]
    levels[0] = {**levels[0], "every_ground_measured": True}  # an operator who says SEV-1 is only what is measured
    matrix = SeverityMatrix.model_validate({"severities": levels})
    exfiltration_clear = finding("prompt-injection", Status.CLEAR, probe_id="near-max-limits")
    lower = suggest_severity(matrix, [share(12.0), exfiltration_clear], Severity.SEV1)
    assert lower is not None and (lower.measured, lower.raise_, lower.reads_as) == (
        Severity.SEV2,
        False,
        "sustained errors > 10%",
    )
    assert suggest_severity(matrix, [share(12.0)], Severity.SEV1) is None  # exfiltration not measured: silent
    unanswered = finding("prompt-injection", Status.NO_DATA, probe_id="near-max-limits")
    assert suggest_severity(matrix, [share(12.0), unanswered], Severity.SEV1) is None
    assert suggest_severity(matrix, [share(100.0), exfiltration_clear], Severity.SEV1) is None  # agrees
    assert suggest_severity(matrix, [share(12.0), exfiltration_clear], Severity.SEV2) is None  # agrees
    with pytest.raises(ValueError, match="every_ground_measured needs the grounds"):
        SeverityMatrix.model_validate({"severities": [{**levels[2], "every_ground_measured": True}, *levels[:2]]})


def test_no_failure_is_no_evidence() -> None:
    probe = next(p for p in RUNBOOK.first_five.probes if p.id == "failure-share")
    rows: list[dict[str, Any]] = [{"Status__c": "Succeeded", "c": 40}]
    clear = evaluate(probe, None, result(rows), None, NOW)
    assert (clear.status, clear.measure) == (Status.CLEAR, 0.0)
    rows.append({"Status__c": "Failed", "c": 1})
    some = evaluate(probe, None, result(rows), None, NOW)
    assert (some.status, some.measure) == (Status.EVIDENCE, 2.4)


def past(number: int, title: str, playbooks: set[str] = frozenset(), evidence: set[str] = frozenset()) -> Past:  # type: ignore[assignment]
    incident = Incident(
        number=number,
        title=title,
        severity=Severity.SEV2,
        team_id="T1",
        declared_by="U1",
        declared_at=NOW,
        commander="U1",
        channel_id=f"C{number}",
    )
    return Past(incident, frozenset(playbooks), frozenset(evidence))


def test_related_incidents_match_on_playbook_evidence_and_title_best_first_at_most_three() -> None:
    pasts = [
        past(1, "Rate-limit storm on enrichment", {"rate-limit-storm"}, {"rate-limit-errors"}),
        past(2, "Anthropic 529s", {"provider-outage"}, {"failed-llm-stages"}),
        past(3, "Enrichment pipelines failing", set(), set()),
        past(4, "Cache wedge after deploy", {"cache-wedge"}),
        past(5, "429 storm again", {"rate-limit-storm"}),
        past(6, "Rate limit storm", {"rate-limit-storm"}, {"rate-limit-errors"}),
    ]
    titles = {p.key: f"{p.number}. {p.title}" for p in RUNBOOK.playbooks}
    found = related("Enrichment rate limits", ["rate-limit-storm"], ["rate-limit-errors"], pasts, titles)
    assert [m.past.incident.number for m in found] == [1, 6, 5]  # best first, newest first among equals; three
    assert found[0].reasons == (
        "same playbook: 2. Rate-limit storm",
        "same evidence: rate-limit-errors",
        "similar title",
    )
    assert found[1].reasons == ("same playbook: 2. Rate-limit storm", "same evidence: rate-limit-errors")
    assert [m.past.incident.number for m in related("x", ["rate-limit-storm"], [], pasts[:5], titles)] == [5, 1]
    assert related("Cache wedge again", [], [], pasts, titles)[0].reasons == ("similar title",)
    assert related("Something else entirely", [], [], pasts, titles) == []
    assert title_similarity("The Anthropic 529s, for all", "anthropic 529s") == 1.0  # common words left out


def test_no_data_is_never_healthy() -> None:
    missing = no_data(probe(), "rate-limit-storm", "no data: no answer within 30 s")
    assert (missing.status, missing.line) == (Status.NO_DATA, "no data: no answer within 30 s")
    assert rank(RUNBOOK.playbooks, [missing])[0].status is Status.NO_DATA


def test_the_bundled_probes_cover_the_runbook_symptoms_the_bot_can_read() -> None:
    by_playbook = {p.key: [probe.id for probe in p.probes] for p in RUNBOOK.playbooks}
    assert by_playbook == {
        "provider-outage": ["failed-llm-stages"],
        "rate-limit-storm": ["rate-limit-errors"],
        "cache-wedge": [],  # its symptoms are in the platform cache and the MDT, which a query cannot read
        "prompt-injection": ["near-max-limits", "turn-errors-by-user"],
        "inventory-harvester": [],  # the runbook points to another runbook and names no data
        "circuit-breaker": ["circuit-queue-rising"],
        "telemetry": ["audit-rows-stale"],
    }
    assert [p.id for p in RUNBOOK.first_five.probes] == ["failure-share"]
    assert isinstance(RUNBOOK.playbooks[0], Playbook)
