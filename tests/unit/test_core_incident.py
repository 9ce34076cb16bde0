"""Pure rules: channel names, severities and their deadlines, command parsing, declaration checks."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.playbook_files import BUNDLED_PLAYBOOKS, load_runbook
from bot.config import STEP_SETTINGS
from bot.core.commands import CommandError, Declare, Help, OpenDeclareForm, Status, parse
from bot.core.incident import InvalidDeclaration, channel_name, make_declaration
from bot.core.severity import BusinessCalendar, ResponseTarget, Severity

SLACK_CHANNEL = re.compile(r"^[a-z0-9_-]{1,80}$")
MATRIX = load_runbook(BUNDLED_PLAYBOOKS, STEP_SETTINGS).severities
PARIS = BusinessCalendar(ZoneInfo("Europe/Paris"), time(9), time(17), frozenset(range(5)))


def test_channel_name_examples() -> None:
    assert channel_name(12, "Anthropic 5xx on all pipelines") == "inc-12-anthropic-5xx-on-all-pipelines"
    assert channel_name(3, "!!!") == "inc-3"
    assert channel_name(3, "Same", attempt=2) == "inc-3-same-2"
    assert channel_name(7, "Practice", drill=True) == "drill-7-practice"


@given(
    st.integers(min_value=1, max_value=10**9),
    st.text(max_size=200),
    st.integers(min_value=1, max_value=99),
    st.booleans(),
)
def test_channel_names_are_always_valid_for_slack(number: int, title: str, attempt: int, drill: bool) -> None:
    name = channel_name(number, title, drill=drill, attempt=attempt)
    assert SLACK_CHANNEL.fullmatch(name)
    assert name.startswith(f"{'drill' if drill else 'inc'}-{number}")
    assert "--" not in name


@pytest.mark.parametrize(("text", "severity"), [("sev2", 2), ("SEV-1", 1), ("sev 3", 3), ("4", 4)])
def test_severity_parse(text: str, severity: int) -> None:
    assert Severity.parse(text) == Severity(severity)


def test_severity_parse_refuses_with_a_sentence() -> None:
    with pytest.raises(ValueError, match=r"^`sev5` is not a severity: use sev1, sev2, sev3 or sev4\.$"):
        Severity.parse("sev5")


def test_matrix_matches_the_runbook() -> None:
    assert [level.response_target.describe() for level in MATRIX.severities] == [
        "< 15 min",
        "< 1 h",
        "< 1 day",
        "next business day",
    ]
    assert MATRIX[Severity.SEV2].definition.startswith("Major surface degraded")


def test_deadlines_per_severity() -> None:
    declared = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # a Wednesday
    due = [MATRIX[s].deadline(declared, PARIS) for s in Severity]
    assert due[:3] == [
        datetime(2026, 11, 25, 14, 15, tzinfo=UTC),
        datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
    ]
    assert due[3] == datetime(2026, 11, 26, 17, 0, tzinfo=ZoneInfo("Europe/Paris"))


def test_sev4_declared_friday_evening_is_due_monday() -> None:
    friday_evening = datetime(2026, 11, 27, 19, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert MATRIX[Severity.SEV4].deadline(friday_evening, PARIS) == datetime(
        2026, 11, 30, 17, 0, tzinfo=ZoneInfo("Europe/Paris")
    )


def test_response_target_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="is not a response target"):
        ResponseTarget.parse("soon")


def test_command_parsing() -> None:
    assert parse("") == OpenDeclareForm()
    assert parse("declare") == OpenDeclareForm()
    assert parse("declare sev2 Anthropic 5xx on all pipelines") == Declare(
        Severity.SEV2, "Anthropic 5xx on all pipelines"
    )
    assert parse("declare --private --drill SEV-1 Leak") == Declare(Severity.SEV1, "Leak", private=True, drill=True)
    assert parse("declare 3 pipelines stuck") == OpenDeclareForm(title="3 pipelines stuck")
    assert parse("declare --llm Vendor down") == OpenDeclareForm(title="Vendor down", llm_related=True)
    assert parse("status") == Status()
    assert parse("help") == Help()
    assert parse("reboot everything") == Help(unknown="reboot everything")
    with pytest.raises(CommandError, match="`--loud` is not an option of declare"):
        parse("declare --loud sev1 x")


@given(st.text(max_size=300))
def test_any_command_text_parses_or_explains(text: str) -> None:
    try:
        parse(text)
    except CommandError as error:
        assert str(error).endswith(".")


def test_declaration_problems_are_per_field() -> None:
    with pytest.raises(InvalidDeclaration) as caught:
        make_declaration(title=" ", severity=None, summary="s" * 2001, declared_by="U1", team_id="T1")
    assert caught.value.problems == {
        "title": "Give the incident a title.",
        "severity": "Pick a severity.",
        "summary": "Keep the summary to 2000 characters.",
    }
    declaration = make_declaration(title="  two   spaces ", severity="2", declared_by="U1", team_id="T1")
    assert (declaration.title, declaration.severity) == ("two spaces", Severity.SEV2)
