"""The audit trail's seals as plain code: every way of changing a trail that someone who can write to Redis has,
and what the check says about each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.audit import (
    EMPTY,
    AuditEntry,
    AuditHead,
    AuditKind,
    Seal,
    SignedHead,
    Trail,
    problems,
    witness_entry,
    witness_problems,
    witnessed,
)

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
KEY = Seal(b"k" * 32)
INCIDENT = 3
KINDS = (AuditKind.REQUESTED, AuditKind.APPROVED, AuditKind.EXECUTION_STARTED, AuditKind.EXECUTED, AuditKind.VERIFIED)


def sealed_trail(seal: Seal = KEY, incident: int = INCIDENT) -> tuple[list[AuditEntry], SignedHead]:
    """Five entries as the store writes them, and their signed head."""
    entries, head = [], EMPTY
    for kind in KINDS:
        entry = seal.entry(incident, AuditEntry(at=AT, kind=kind, actor="U1", request="r1", summary=kind.value), head)
        entries.append(entry)
        head = AuditHead(entry.position, entry.hash)
    return entries, SignedHead(head, seal.head(incident, head))


def check(
    entries: list[AuditEntry], head: SignedHead | None, requests: frozenset[str] = frozenset({"r1"}), **more: AuditHead
) -> list[str]:
    return problems(Trail(INCIDENT, entries, head, set(requests), **more), KEY)


def signed(entries: list[AuditEntry], seal: Seal = KEY) -> SignedHead:
    head = AuditHead(len(entries), entries[-1].hash) if entries else EMPTY
    return SignedHead(head, seal.head(INCIDENT, head))


def test_an_intact_trail_has_no_problem_and_a_short_head_for_slack() -> None:
    entries, head = sealed_trail()
    assert check(entries, head) == []
    assert [e.position for e in entries] == [1, 2, 3, 4, 5] and entries[1].previous == entries[0].hash
    assert head.head.short == f"5:{entries[-1].hash[:8]}"
    assert AuditHead.parse(head.head.short) == AuditHead(5, entries[-1].hash[:8])
    assert AuditHead.parse(" 12:3F9A1C0E\n") == AuditHead(12, "3f9a1c0e")  # pasted with its spaces, in capitals
    for text in ("five", "5:", ":3f9a1c0e", "5:3f9a1c0g", "five:3f9a1c0e", "5:3f9a:1c0e", "5:3:f9", "-5:3f", "5 :3f"):
        with pytest.raises(ValueError, match="COUNT:HASH"):
            AuditHead.parse(text)


def test_an_edited_entry_is_named() -> None:
    entries, head = sealed_trail()
    entries[2] = entries[2].model_copy(update={"actor": "U2"})
    assert check(entries, head) == ["entry 3 was edited or forged (its content does not match its seal)"]
    entries, head = sealed_trail()
    entries[4] = entries[4].model_copy(update={"summary": "verified: all good"})
    assert check(entries, head) == ["entry 5 was edited or forged (its content does not match its seal)"]


def test_an_inserted_entry_is_named() -> None:
    entries, head = sealed_trail()
    forged = entries[1].model_copy(update={"kind": AuditKind.DENIED, "hash": "f" * 64})
    assert check([*entries[:2], forged, *entries[2:]], head) == [
        "an entry was inserted after entry 2 (it is not part of the chain)"
    ]
    assert check([*entries[:4], forged, entries[4]], head) == [
        "an entry was inserted after entry 4 (it is not part of the chain)"
    ]


def test_two_chains_spliced_together_are_named() -> None:
    """Every entry holds its own seal, but entry 2 was sealed after another entry 1 (say, another run of the bot
    with the same key): the chain is broken there."""
    entries, head = sealed_trail()
    other = KEY.entry(
        INCIDENT, AuditEntry(at=AT, kind=AuditKind.REQUESTED, actor="U9", request="r1", summary="x"), EMPTY
    )
    assert check([other, *entries[1:]], head) == [
        "entry 2 does not follow entry 1 (its seal names another entry before it)"
    ]


def test_a_removed_entry_in_the_middle_is_named() -> None:
    entries, head = sealed_trail()
    assert check([*entries[:1], *entries[2:]], head) == ["entry 2 is missing"]
    assert check([entries[0], entries[4]], head) == ["entries 2–4 are missing"]


def test_reordered_entries_are_named() -> None:
    entries, head = sealed_trail()
    assert check([entries[0], entries[2], entries[1], *entries[3:]], head) == [
        "entry 3 is out of order (found where entry 2 belongs)"
    ]
    assert check([*entries, entries[1]], head) == ["entry 2 is out of order (found where entry 6 belongs)"]
    assert check([entries[1], entries[0], *entries[2:]], head) == [
        "entry 2 is out of order (found where entry 1 belongs)"
    ]


def test_the_tail_removed_shows_against_the_head() -> None:
    entries, head = sealed_trail()
    assert check(entries[:3], head) == ["the last 2 entries are missing (the head says 5)"]
    assert check([], head) == [
        "the last 5 entries are missing (the head says 5)",
        "request r1 has no “requested” entry (its entries were removed)",
    ]


def test_a_head_rewritten_without_the_key_does_not_hold() -> None:
    entries, _ = sealed_trail()
    rewound = AuditHead(3, entries[2].hash)
    assert check(
        entries[:3], SignedHead(rewound, Seal(b"not the key, but long enough!!!!").head(INCIDENT, rewound))
    ) == ["the head's signature does not hold (the head was rewritten)"]
    assert check(entries, None) == ["the signed head is missing (deleted)"]


def test_a_head_kept_from_earlier_is_caught_only_by_what_slack_showed() -> None:
    """Someone who kept the signed head of entry 3 can trim back to it; the card that showed 5 entries says so."""
    entries, head = sealed_trail()
    earlier = signed(entries[:3])
    assert check(entries[:3], earlier) == []
    assert check(entries[:3], earlier, expected=head.head) == ["Slack showed 5 entries, the trail has 3"]
    assert check(entries, head, expected=AuditHead(4, entries[3].hash[:8])) == []
    assert check(entries, head, expected=head.head) == []  # the whole trail, as the last card showed it
    assert check(entries, head, expected=EMPTY) == []  # a card shown before the first entry
    assert check(entries, head, expected=AuditHead(4, "0badc0de")) == [
        f"entry 4 is not the one Slack showed (0badc0de there, {entries[3].hash[:8]} here)"
    ]


def test_a_chain_rebuilt_without_the_key_or_with_another_does_not_verify() -> None:
    unkeyed, unkeyed_head = sealed_trail(Seal(None))
    assert check(unkeyed, unkeyed_head) == [
        "entry 1 is sealed with sha256 where this bot seals with hmac-sha256 (re-sealed, or AUDIT_SIGNING_KEY "
        "differs from the bot's)"
    ]
    other, other_head = sealed_trail(Seal(b"o" * 32))
    assert check(other, other_head) == ["entry 1 was edited or forged (its content does not match its seal)"]
    assert problems(Trail(INCIDENT, unkeyed, unkeyed_head, {"r1"}), Seal(None)) == []  # no key: accidents only


def test_entries_moved_from_another_incident_do_not_verify() -> None:
    entries, head = sealed_trail(incident=INCIDENT + 1)
    assert check(entries, head)[0] == "entry 1 was edited or forged (its content does not match its seal)"


def test_a_request_without_its_entries_is_named() -> None:
    assert check([], None, requests=frozenset({"r1", "r2"})) == [
        "request r1, r2 has no “requested” entry (its entries were removed)"
    ]
    entries, head = sealed_trail()
    assert check(entries, head, requests=frozenset({"r1", "r2"})) == [
        "request r2 has no “requested” entry (its entries were removed)"
    ]


def test_a_rotated_key_seals_new_entries_and_the_old_one_still_verifies() -> None:
    old, new = b"o" * 32, b"n" * 32
    entries, head = sealed_trail(Seal(old))
    rotated = Seal(old, keys=[("2026-12", new), ("2026-06", b"m" * 32)])
    assert rotated.key_id == "2026-12" and entries[0].key_id == ""
    assert problems(Trail(INCIDENT, entries, head, {"r1"}), rotated) == []
    more = rotated.entry(
        INCIDENT, AuditEntry(at=AT, kind=AuditKind.REVERT_REQUESTED, actor="U1", request="r1", summary="x"), head.head
    )
    assert more.key_id == "2026-12" and rotated.entry_holds(INCIDENT, more)
    assert not Seal(old).entry_holds(INCIDENT, more)  # a bot without the new key cannot vouch for it
    signed = SignedHead(AuditHead(6, more.hash), rotated.head(INCIDENT, AuditHead(6, more.hash)), "2026-12")
    assert problems(Trail(INCIDENT, [*entries, more], signed, {"r1"}), rotated) == []
    assert problems(Trail(INCIDENT, [*entries, more], signed, {"r1"}), Seal(new, keys=[("2026-12", new)])) == [
        "entry 1 was edited or forged (its content does not match its seal)"
    ]


def test_the_witness_knows_the_last_head_of_each_trail() -> None:
    entries, head = sealed_trail()
    witness = [
        witness_entry(AT, INCIDENT, AuditHead(3, entries[2].hash)),
        witness_entry(AT, 9, AuditHead(1, "a" * 64)),
        witness_entry(AT, INCIDENT, head.head),
    ]
    odd = witness_entry(AT, 4, AuditHead(1, "b" * 64))
    partial = odd.model_copy(update={"details": {"incident": 4, "count": 1}})  # no hash: not a head it saw
    other = odd.model_copy(update={"kind": AuditKind.CHECKED})  # not a witness's entry
    seen = witnessed([*witness, partial, other])
    assert seen == {INCIDENT: head.head, 9: AuditHead(1, "a" * 64)}
    trail = Trail(INCIDENT, entries, head, {"r1"})
    assert witness_problems(trail, seen[INCIDENT], KEY) == []
    assert witness_problems(Trail(INCIDENT, entries[:3], signed(entries[:3]), {"r1"}), seen[INCIDENT], KEY) == [
        "the witness showed 5 entries, the trail has 3"
    ]
    assert witness_problems(trail, AuditHead(3, entries[2].hash), KEY) == [
        "its last 2 entries were never witnessed (written outside the bot)"
    ]
    assert witness_problems(trail, None, KEY) == ["its 5 entries were never witnessed (written outside the bot)"]
    assert witness_problems(Trail(INCIDENT, [], None, set()), None, KEY) == []


def test_an_entry_sealed_with_a_key_this_bot_does_not_hold_names_that_key() -> None:
    old, new = b"o" * 32, b"n" * 32
    entries, head = sealed_trail(Seal(old))  # sealed with AUDIT_SIGNING_KEY, which names no key id
    newer_only = Seal(None, keys=[("2026-12", new)])
    retired = (
        "which this bot does not hold (keep retired keys in AUDIT_SIGNING_KEYS, and AUDIT_SIGNING_KEY for the seals "
        "made before keys were named)"
    )
    assert problems(Trail(INCIDENT, entries, head, {"r1"}), newer_only)[0] == (
        f"entry 1 is sealed with AUDIT_SIGNING_KEY, {retired}"
    )
    named, named_head = sealed_trail(Seal(None, keys=[("2026-06", old)]))
    assert problems(Trail(INCIDENT, named, named_head, {"r1"}), newer_only)[0] == (
        f"entry 1 is sealed with the key `2026-06`, {retired}"
    )
    unsealed = [entries[0].model_copy(update={"algorithm": ""}), *entries[1:]]
    assert check(unsealed, head)[0] == (
        "entry 1 is sealed with nothing where this bot seals with hmac-sha256 (re-sealed, or AUDIT_SIGNING_KEY "
        "differs from the bot's)"
    )


def test_one_entry_missing_at_the_end_is_said_in_the_singular() -> None:
    entries, head = sealed_trail()
    assert check(entries[:4], head) == ["the last entry is missing (the head says 5)"]
