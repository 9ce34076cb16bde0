"""`make sabotage` keeps up with the code: every named sabotage still finds the line it breaks (a sabotage that
no longer applies stops the command, and CI does not run it)."""

from __future__ import annotations

import pytest

from tests.sabotage import ROOT, SABOTAGES, Sabotage


@pytest.mark.parametrize("sabotage", SABOTAGES, ids=[sabotage.name for sabotage in SABOTAGES])
def test_each_sabotage_still_applies_once(sabotage: Sabotage) -> None:
    source = (ROOT / sabotage.path).read_text()
    assert source.count(sabotage.old) == 1, f"{sabotage.name}: update tests/sabotage.py for {sabotage.path}"
    assert sabotage.new != sabotage.old
