"""Salesforce Ids as typed: 15 characters, or 18 with the checksum of the capitalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.salesforce_id import checksum, parse_id, to_18


def test_known_ids() -> None:
    # from Salesforce's documentation of the algorithm: the suffix encodes which characters are uppercase
    assert checksum("001A0000006Vm9r") == "IAC"
    assert to_18("005000000000ABC") == "005000000000ABCAA2"
    assert parse_id("005000000000abc") == "005000000000abcAAA"
    assert parse_id("005000000000ABCaa2") == "005000000000ABCAA2"  # the checksum is not case-sensitive


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("005000000000ABCAAA", "That 18-character Id's last three characters do not match"),
        ("005000000000AB", "A Salesforce Id has 15 or 18 letters and digits."),
        ("005000000000AB'; DELETE", "A Salesforce Id has 15 or 18 letters and digits."),
        ("00D000000000001", "A Salesforce user Id starts with 005."),
    ],
)
def test_refusals(typed: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_id(typed, prefix="005")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=15, max_size=15))
def test_every_15_character_id_round_trips(fifteen: str) -> None:
    eighteen = parse_id(fifteen)
    assert eighteen[:15] == fifteen and parse_id(eighteen) == eighteen
