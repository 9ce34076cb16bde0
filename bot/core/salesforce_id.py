"""Salesforce record Ids as people type them: 15 case-sensitive characters, or 18 with a checksum."""

from __future__ import annotations

import re

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
USER_PREFIX = "005"


def checksum(fifteen: str) -> str:
    """The three characters Salesforce appends: one per five characters, from which of them are uppercase."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << index for index, char in enumerate(fifteen[start : start + 5]) if "A" <= char <= "Z")
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def to_18(fifteen: str) -> str:
    return fifteen + checksum(fifteen)


def parse_id(text: str, *, prefix: str | None = None) -> str:
    """The 18-character form of a typed Id; ValueError with a sentence for the person when it is not one."""
    value = text.strip()
    if not _SHAPE.fullmatch(value):
        raise ValueError("A Salesforce Id has 15 or 18 letters and digits.")
    if len(value) == 18 and checksum(value[:15]) != value[15:].upper():
        raise ValueError("That 18-character Id's last three characters do not match: check it was copied whole.")
    if prefix and not value.startswith(prefix):
        raise ValueError(f"A Salesforce user Id starts with {prefix}.")
    return to_18(value[:15])
