"""`make sabotage`: the sabotages of the safety code that the suite must catch, each applied to a copy of the
project and run against the tests that guard it. A sabotage the tests let through is printed as SURVIVED and
the command exits 1. (Not a test module: pytest never collects it.)

Run: `.venv/bin/python -m tests.sabotage`
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/integration/test_killswitches.py",
    "tests/integration/test_execution.py",
    "tests/integration/test_access.py",
    "tests/unit/test_approval.py",
]


@dataclass(frozen=True)
class Sabotage:
    name: str
    path: str
    old: str
    new: str


SABOTAGES = [
    Sabotage(
        "read-back always verified",
        "bot/services/execution.py",
        "verified = seen.applied is True",
        "verified = True",
    ),
    Sabotage(
        "a click's missing incident taken for another",
        "handlers/guards.py",
        "incident = services.incidents.refuse_missing(value.incident, context[READ_WITH_REPLAY_CHECK])",
        "incident = context[READ_WITH_REPLAY_CHECK] or services.incidents.get(1)",
    ),
    Sabotage(
        "the channel check skipped",
        "handlers/guards.py",
        "    elif channel != incident.channel_id:",
        "    elif False:",
    ),
    Sabotage(
        "the requester allowed to approve",
        "bot/adapters/redis_store/approvals.py",
        "if ARGV[8] == 'approved' and requester == ARGV[6] then return 'self' end",
        "",
    ),
    Sabotage(
        "a request released to approved after sending",
        "bot/core/approval.py",
        "Move.RELEASE: (frozenset({_S.PREPARING}), _S.APPROVED),",
        "Move.RELEASE: (frozenset({_S.PREPARING, _S.SENDING, _S.UNKNOWN}), _S.APPROVED),",
    ),
    Sabotage(
        "the drill flag ignored (kill switches)",
        "bot/services/execution.py",
        "        if request.drill:\n            dry = ",
        "        if False:\n            dry = ",
    ),
    Sabotage(
        "the drill flag ignored (change steps)",
        "bot/services/walkthrough.py",
        "if incident.drill and not kind.drill_safe:",
        "if False:",
    ),
    Sabotage(
        "an empty approver group opens approval to the channel",
        "bot/core/approval.py",
        'return frozenset(), f"the approvers group {group} has no members right now (and APPROVERS names nobody)"',
        "return channel_members - {requester}, None",
    ),
    Sabotage(
        "a change sent twice after no answer",
        "bot/services/execution.py",
        "            self._settle(request)\n            return\n        except SalesforceError as error:",
        "            mechanism.apply(org, request.change, prior)\n"
        "            self._settle(request)\n            return\n        except SalesforceError as error:",
    ),
    Sabotage(
        "resolving leaves approved requests to run",
        "bot/core/approval.py",
        "Move.CANCEL: (frozenset({_S.PENDING, _S.APPROVED, _S.PREPARING, _S.GUIDED}), _S.CANCELLED),",
        "Move.CANCEL: (frozenset({_S.PENDING}), _S.CANCELLED),",
    ),
]


def run(sabotage: Sabotage) -> bool:
    """True when the tests caught it (failed)."""
    with tempfile.TemporaryDirectory() as directory:
        copy = Path(directory) / "project"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "mutants", "__pycache__", "var"))
        target = copy / sabotage.path
        source = target.read_text()
        if sabotage.old not in source:
            raise SystemExit(f"sabotage {sabotage.name!r} no longer applies to {sabotage.path}: update it")
        target.write_text(source.replace(sabotage.old, sabotage.new))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        return result.returncode != 0


def main() -> int:
    survived = 0
    for sabotage in SABOTAGES:
        caught = run(sabotage)
        survived += not caught
        print(f"{'caught  ' if caught else 'SURVIVED'}  {sabotage.name}  ({sabotage.path})", flush=True)
    print(f"{len(SABOTAGES) - survived} of {len(SABOTAGES)} sabotages caught")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
