"""The runbook as data: every shipped file validates, broken ones fail with the file and path, limits hold."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.adapters.playbook_files import BUNDLED_PLAYBOOKS, PlaybookDataError, load_runbook
from bot.config import STEP_SETTINGS
from bot.core.evidence import Finding, Probed, Status, rank
from bot.core.incident import Incident
from bot.core.playbook import FIRST_FIVE
from bot.core.severity import Severity
from bot.core.walkthrough import StepState, StepStatus, state_key
from bot.kinds.base import StepDisplay
from bot.kinds.query import QueryStep
from bot.render.evidence import rows_message
from bot.render.steps import checklist_message, phase_message, picker_message
from tests.conftest import run_cli
from tests.fakes.slack import FakeSlack

RUNBOOK = load_runbook(BUNDLED_PLAYBOOKS, STEP_SETTINGS)


def test_every_shipped_file_validates() -> None:
    assert [p.number for p in RUNBOOK.playbooks] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.key for s in RUNBOOK.switches.switches] == [
        "org-chat-off",
        "org-chat-dml-off",
        "tool-calling-off",
        "provider-off",
        "user-lockout",
        "abort-inventory-cron",
    ]
    assert [s.id for s in RUNBOOK.first_five.steps] == [
        "confirm-scope",
        "telemetry-dashboard",
        "snapshot-executions",
        "snapshot-audit",
        "vendor-status",
        "kill-switch-posture",
    ]


def test_runbook_queries_are_what_a_real_org_accepts() -> None:
    """No Id beside GROUP BY, no LAST_N_HOURS, no WHERE on long text areas, `_` escaped in LIKE."""
    steps = [*RUNBOOK.first_five.all_steps(), *(s for p in RUNBOOK.playbooks for s in p.all_steps())]
    steps += [probe.query for _, probe in RUNBOOK.probes()]
    for step in (s for s in steps if isinstance(s, QueryStep)):
        soql = " ".join(step.soql.split())
        if "GROUP BY" in soql:
            assert not soql.startswith("SELECT Id,"), step.id
        assert "LAST_N_HOURS" not in soql, step.id
        where = soql.split(" WHERE ", 1)[1] if " WHERE " in soql else ""
        assert "Detail__c" not in where and "Diff_Json__c" not in where, step.id
        for pattern in ("'org_chat%'", "'llm_%'", "'%RATE_LIMIT%'"):
            assert pattern not in soql, step.id


def copy_bundled(tmp_path: Path) -> Path:
    directory = tmp_path / "playbooks"
    shutil.copytree(BUNDLED_PLAYBOOKS, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return directory


def edit(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


P1 = "playbook-1-provider-outage.yaml"
P4 = "playbook-4-prompt-injection.yaml"


def _set(path: list[object], value: object):  # type: ignore[no-untyped-def]
    def change(data: object) -> None:
        for part in path[:-1]:
            data = data[part]  # type: ignore[index]
        data[path[-1]] = value  # type: ignore[index]

    return change


BROKEN = [
    pytest.param(
        P1,
        _set(["phases", 0, "steps", 0, "colour"], "red"),
        f"{P1}: phases[0].steps[0].colour: Extra inputs are not permitted",
        id="unknown-key",
    ),
    pytest.param(
        P1,
        _set(["phases", 1, "steps", 1, "id"], "fallback-chain"),
        f"{P1}: step id `fallback-chain` is used twice: at phases[1].steps[0] and at phases[1].steps[1]",
        id="duplicate-id",
    ),
    pytest.param(
        P1,
        _set(["phases", 1, "steps", 1, "switch"], "provider-gone"),
        f"{P1}: phases[1].steps[1].switch: no kill switch `provider-gone`",
        id="dangling-switch",
    ),
    pytest.param(
        P4,
        _set(["phases", 2, "steps", 0, "parameters"], []),
        f"{P4}: phases[2].steps[0]: soql uses ['suspect_user_id'] but no such parameter is defined",
        id="missing-parameter",
    ),
    pytest.param(
        P1,
        _set(["phases", 0, "steps", 0, "risk"], "destructive"),
        f"{P1}: phases[0].steps[0]: a destructive query step is outside the approval path",
        id="destructive-outside-approval",
    ),
    pytest.param(
        P1,
        _set(["phases", 1, "steps", 1, "risk"], "change"),
        f"{P1}: phases[1].steps[1]: a kill switch always goes through two-person approval",
        id="kill-switch-not-destructive",
    ),
    pytest.param(
        P1,
        _set(["phases", 0, "steps", 0, "soql"], "SELECT Id FROM X WHERE CreatedDate = LAST_N_HOURS:1"),
        f"{P1}: phases[0].steps[0]: LAST_N_HOURS is not a SOQL date literal",
        id="last-n-hours",
    ),
    pytest.param(
        P1,
        _set(["phases", 1, "name"], "diagnose"),
        f"{P1}: each phase at most once: diagnose, diagnose, recover",
        id="phase-twice",
    ),
    pytest.param(
        P1,
        _set(["phases", 0, "steps", 0, "kind"], "teleport"),
        f"{P1}: phases[0].steps[0]: Input tag 'teleport' found using 'kind' does not match any of the expected tags",
        id="unknown-kind",
    ),
    pytest.param(
        "playbook-5-inventory-harvester.yaml",
        _set(["phases", 0, "steps", 0, "url_setting"], "wiki_url"),
        "playbook-5-inventory-harvester.yaml: phases[0].steps[0].url_setting: `wiki_url` is not a setting",
        id="unknown-url-setting",
    ),
    pytest.param(
        "kill-switches.yaml",
        _set(["switches", 0, "mechanism", "type"], "reboot"),
        "kill-switches.yaml: switches[0].mechanism: Input tag 'reboot' found using 'type' does not match",
        id="unknown-mechanism",
    ),
    pytest.param(
        "playbook-2-rate-limit-storm.yaml",
        _set(["number"], 1),
        "playbook-2-rate-limit-storm.yaml: number: `1` is also used by playbook-1-provider-outage.yaml",
        id="duplicate-number",
    ),
    pytest.param(
        "playbook-2-rate-limit-storm.yaml",
        _set(["probes", 0, "id"], "failed-llm-stages"),
        "playbook-2-rate-limit-storm.yaml: probes[0].id: `failed-llm-stages` is also a probe of "
        "playbook-1-provider-outage.yaml",
        id="duplicate-probe-id",
    ),
    pytest.param(
        "severity.yaml",
        _set(["severities", 1, "measured_when", 0, "probe"], "error-share"),
        "severity.yaml: measured_when: no probe `error-share` (known: audit-rows-stale, circuit-queue-rising,",
        id="severity-names-no-probe",
    ),
    pytest.param(
        "playbook-2-rate-limit-storm.yaml",
        _set(["probes", 0, "query", "soql"], "SELECT COUNT() FROM FM_Run_Audit__c WHERE CreatedDate = LAST_N_HOURS:1"),
        "playbook-2-rate-limit-storm.yaml: probes[0].query: LAST_N_HOURS is not a SOQL date literal",
        id="probe-last-n-hours",
    ),
    pytest.param(
        "playbook-2-rate-limit-storm.yaml",
        _set(["probes", 0, "evidence"], "{{ errors }} errors"),
        "playbook-2-rate-limit-storm.yaml: probes[0]: evidence: 'errors' is undefined (a count rule offers count, "
        "top, top_count, window)",
        id="probe-evidence-unknown-value",
    ),
]


@pytest.mark.parametrize(("file", "change", "expected"), BROKEN)
def test_broken_playbooks_name_the_file_and_path(tmp_path: Path, file: str, change: object, expected: str) -> None:
    directory = copy_bundled(tmp_path)
    edit(directory / file, change)
    with pytest.raises(PlaybookDataError) as caught:
        load_runbook(directory, STEP_SETTINGS)
    assert f"{directory}/{expected}" in str(caught.value)


def test_invalid_yaml_is_reported_with_its_file(tmp_path: Path) -> None:
    directory = copy_bundled(tmp_path)
    (directory / P1).write_text("key: [unclosed\n")
    with pytest.raises(PlaybookDataError, match=r"playbook-1-provider-outage\.yaml: not valid YAML"):
        load_runbook(directory, STEP_SETTINGS)


def test_a_file_the_bot_would_not_read_is_a_problem(tmp_path: Path) -> None:
    directory = copy_bundled(tmp_path)
    (directory / "playbok-8-typo.yaml").write_text((directory / P1).read_text().replace("number: 1", "number: 8"))
    (directory / "notes.txt").write_text("a draft")
    broken = run_cli("playbooks", "check", str(directory))
    assert broken.returncode == 1
    assert [line.split(": not a file the bot reads")[0] for line in broken.stderr.splitlines()] == [
        str(directory / "notes.txt"),
        str(directory / "playbok-8-typo.yaml"),
    ]


def test_cli_check_and_show(tmp_path: Path) -> None:
    ok = run_cli("playbooks", "check")
    assert (ok.returncode, ok.stdout) == (0, "OK: 7 playbooks, 6 kill switches, 4 severities, 53 steps, 7 probes\n")
    directory = copy_bundled(tmp_path)
    edit(directory / P1, _set(["phases", 1, "steps", 1, "switch"], "provider-gone"))
    broken = run_cli("playbooks", "check", str(directory))
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"{directory / P1}: phases[1].steps[1].switch: no kill switch `provider-gone`")
    shown = run_cli("playbooks", "show", "rate-limit-storm")
    assert shown.returncode == 0
    assert "▸ One specific user" in shown.stdout and "DIAGNOSE" in shown.stdout
    unknown = run_cli("playbooks", "show", "nope")
    assert unknown.returncode == 2 and unknown.stderr.startswith("There is no playbook `nope`")


INCIDENT = Incident(
    number=999999,
    title="x" * 80,
    severity=Severity.SEV1,
    team_id="T1",
    declared_by="U1",
    declared_at=datetime(2026, 11, 25, tzinfo=UTC),
    commander="U1",
    channel_id="C1",
    llm_related=True,
    exfiltration_suspected=True,
)


def everything_presented(step: object) -> StepDisplay:
    """The largest a step can render: a run button, a long manual block, a note and a link."""
    return StepDisplay(run_label="Run query", manual="X" * 5000, missing="y" * 300, url="https://example.com")


def test_every_message_stays_inside_block_kit_limits() -> None:
    validator = FakeSlack()
    try:
        timezone = ZoneInfo("UTC")
        messages = [checklist_message(INCIDENT, RUNBOOK.first_five, {}, everything_presented, timezone)]
        messages.append(picker_message(INCIDENT, rank(RUNBOOK.playbooks, []), RUNBOOK.suggestions(INCIDENT), [], None))
        findings = [  # every probe found evidence, with its longest line and its rows
            Finding(
                probe=probe.id,
                playbook=playbook,
                symptom=probe.symptom,
                status=Status.EVIDENCE,
                line="z" * 300,
                strength=2.0,
                statement="SELECT " + "x" * 3000,
                rows=[{f"Column{i}": "v" * 60 for i in range(8)}] * 10,
            )
            for playbook, probe in RUNBOOK.probes()
        ]
        probed = Probed(
            at=INCIDENT.declared_at,
            done=True,
            probes=len(findings),
            findings=tuple(findings),
            rows_link="https://x.test/p1",
        )
        ranking = rank(RUNBOOK.playbooks, findings)
        messages.append(picker_message(INCIDENT, ranking, RUNBOOK.suggestions(INCIDENT), [], probed))
        unprobed = tuple((p.title, p.unprobed) for p in RUNBOOK.playbooks if p.unprobed)
        messages.append(rows_message(probed, {p.key: f"Playbook {p.number}" for p in RUNBOOK.playbooks}, unprobed))
        for playbook in RUNBOOK.playbooks:
            decisions = [s for s in playbook.all_steps() if s.branches()]
            branch_sets = [{}] + [
                {state_key(playbook.key, d.id): StepState(status=StepStatus.DONE, choice=b.id)}
                for d in decisions
                for b in d.branches()
            ]
            for states in branch_sets:
                for phase in playbook.phases:
                    messages.append(
                        phase_message(
                            INCIDENT, playbook, phase, states, everything_presented, timezone, next_posted=False
                        )
                    )
        for text, blocks in messages:
            validator.check_blocks("chat.postMessage", blocks, 50)
            assert len(text) < 4000
        assert validator.problems == []
        assert max(len(blocks) for _, blocks in messages) <= 50
    finally:
        validator.server.server_close()


def test_suggestions_follow_the_declaration() -> None:
    assert [p.key for p in RUNBOOK.suggestions(INCIDENT)] == ["provider-outage", "rate-limit-storm", "prompt-injection"]
    quiet = INCIDENT.model_copy(update={"llm_related": False, "exfiltration_suspected": False})
    assert RUNBOOK.suggestions(quiet) == []
    assert RUNBOOK.step(FIRST_FIVE, "vendor-status") is not None
    assert RUNBOOK.playbook("4") is RUNBOOK.playbook("prompt-injection")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param(
            "{{ pm.__class__.__init__.__globals__['os'].environ }}",
            "postmortem.md.j2: the sandbox refuses it: access to attribute '__init__' of 'StrictUndefined' object is "
            "unsafe.",
            id="reaching-the-environment",
        ),
        pytest.param(
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "postmortem.md.j2: the sandbox refuses it: access to attribute '__class__' of 'str' object is unsafe.",
            id="walking-to-subprocess",
        ),
        pytest.param(
            "# {{ pm.titel }}",
            "postmortem.md.j2: 'bot.core.postmortem.PostMortem object' has no attribute 'titel' (the draft has no such "
            "name)",
            id="a-misspelt-name",
        ),
    ],
)
def test_the_postmortem_template_runs_sandboxed_and_is_checked_whole(
    tmp_path: Path, template: str, expected: str
) -> None:
    """Whoever edits playbooks/ cannot run code in the process that holds every secret; a name the draft does
    not have shows at `playbooks check`, not at the end of an incident."""
    directory = copy_bundled(tmp_path)
    (directory / "postmortem.md.j2").write_text(template)
    with pytest.raises(PlaybookDataError) as caught:
        load_runbook(directory, STEP_SETTINGS)
    assert str(caught.value).endswith(f"{directory}/{expected}")
