"""The audit trail: append-only entries, numbered and sealed in a chain, under a signed head.

Each entry carries its position and the seal of the one before; its own seal is an HMAC-SHA256 (keyed with
AUDIT_SIGNING_KEY) of its canonical JSON and its incident's number, so an entry edited, inserted, reordered or
moved to another incident shows, and a chain rebuilt without the key does not verify. The head (the entry
count and the last seal) is signed the same way, so trimming the tail shows too, unless the head of that
earlier moment was kept. Against that, the head is also anchored outside Redis: each kill-switch card and the
post-mortem draft show it, and `audit verify --expect COUNT:HASH` checks the trail against what Slack showed.

Without a key the seals are plain SHA-256: they catch accidents, not someone who can write to Redis (the
doctor says so). A keyed seal names its key (`key_id`), so keys can be rotated: AUDIT_SIGNING_KEYS keeps the old
ones for verifying; AUDIT_SIGNING_KEY is the key of the seals that name none.

Deleting an incident's whole trail (its stream and head) leaves nothing inside the incident to notice it, so every
head an incident's trail reaches is also sealed into one global chain, the witness (`WITNESS`, sealed as incident
0), written in the same atomic step: `audit verify --all` checks every incident against it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.core.events import Event

GENESIS = "0" * 64
KEYED = "hmac-sha256"
UNKEYED = "sha256"
SHORT = 8  # hex characters of a seal shown in Slack and the post-mortem
HEAD_TEXT = re.compile(r"([0-9]+):([0-9a-f]+)")  # a head as a card shows it: COUNT:HASH, the hash maybe shortened
WITNESS = 0  # the witness chain is sealed as this incident number (incidents start at 1)


class AuditKind(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    REFUSED = "refused"
    EXPIRED = "expired"
    EXECUTION_STARTED = "execution started"
    EXECUTED = "executed"
    DRY_RUN = "dry run"
    FAILED = "failed"
    UNKNOWN = "outcome unknown"
    GUIDED = "waiting for a person"
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    REVERT_REQUESTED = "revert requested"
    CANCELLED = "cancelled"
    UNCHANGED = "already in place"  # the org already showed the change: nothing was sent
    DONE_BY_HAND = "done by hand"  # a person says a destructive step was done outside the bot
    CHECKED = "checked by hand"  # a person says a change without an answer did not apply, before it runs again
    WITNESSED = "witnessed"  # an entry of the witness chain: an incident's trail reached this head


class AuditEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    at: datetime
    kind: AuditKind
    actor: str | None
    request: str
    summary: str
    details: dict[str, Any] = {}
    position: int = 0  # 1-based, set when sealed
    previous: str = GENESIS
    algorithm: str = ""
    key_id: str = ""  # which key sealed it ("" for AUDIT_SIGNING_KEY)
    hash: str = ""


@dataclass(frozen=True)
class Audit:
    """An entry for an incident's trail, written in the same atomic step as the change it records (and the event
    that tells the subscribers, if any). A private incident's entry is logged without its summary and details
    (people's words stay out of logs)."""

    incident: int
    entry: AuditEntry
    private: bool = False
    event: Event | None = None


@dataclass(frozen=True)
class AuditHead:
    """How long the trail is and how it ends: what Slack shows, and what Redis keeps signed."""

    count: int
    hash: str

    @property
    def short(self) -> str:
        return f"{self.count}:{self.hash[:SHORT]}"

    @classmethod
    def parse(cls, text: str) -> AuditHead:
        """`COUNT:HASH` as Slack shows it (the hash may be shortened to its first characters)."""
        found = HEAD_TEXT.fullmatch(text.strip().lower())
        if found is None:
            raise ValueError(f"expected COUNT:HASH as a card shows it (such as 7:3f9a1c0e), not {text!r}")
        return cls(int(found[1]), found[2])


EMPTY = AuditHead(0, GENESIS)


class Seal:
    """Seals entries and heads: HMAC-SHA256 with the newest key, or plain SHA-256 without any; verifies with the
    key a seal names."""

    def __init__(self, key: bytes | None = None, keys: Sequence[tuple[str, bytes]] = ()) -> None:
        """`keys` are (id, key), newest first (AUDIT_SIGNING_KEYS); `key` is the key of seals that name none
        (AUDIT_SIGNING_KEY), and seals new entries when `keys` is empty."""
        self._keys = dict(keys)
        if key:
            self._keys.setdefault("", key)
        self.key_id: str | None = keys[0][0] if keys else ("" if key else None)

    @property
    def algorithm(self) -> str:
        return UNKEYED if self.key_id is None else KEYED

    def knows(self, key_id: str) -> bool:
        return key_id in self._keys

    def entry(self, incident: int, entry: AuditEntry, head: AuditHead) -> AuditEntry:
        """The next entry after `head`, sealed."""
        body = entry.model_copy(
            update={
                "position": head.count + 1,
                "previous": head.hash,
                "algorithm": self.algorithm,
                "key_id": self.key_id or "",
                "hash": "",
            }
        )
        return body.model_copy(update={"hash": self._digest(body.algorithm, body.key_id, _canonical(incident, body))})

    def head(self, incident: int, head: AuditHead) -> str:
        return self._digest(self.algorithm, self.key_id or "", _head_text(incident, head))

    def entry_holds(self, incident: int, entry: AuditEntry) -> bool:
        return hmac.compare_digest(self._digest(entry.algorithm, entry.key_id, _canonical(incident, entry)), entry.hash)

    def head_holds(self, incident: int, head: AuditHead, signature: str, key_id: str) -> bool:
        algorithm = KEYED if self._keys else UNKEYED
        return hmac.compare_digest(self._digest(algorithm, key_id, _head_text(incident, head)), signature)

    def _digest(self, algorithm: str, key_id: str, content: bytes) -> str:
        key = self._keys.get(key_id)
        if algorithm == KEYED and key:
            return hmac.new(key, content, hashlib.sha256).hexdigest()
        if algorithm == UNKEYED:
            return hashlib.sha256(content).hexdigest()
        return ""  # an algorithm or a key this process does not have: never equal to a seal


def _canonical(incident: int, entry: AuditEntry) -> bytes:
    """What a seal covers: the entry without its seal (and without an empty key id, as seals had before keys were
    named), and its incident's number."""
    exclude = {"hash"} if entry.key_id else {"hash", "key_id"}
    content = {"incident": incident, **entry.model_dump(mode="json", exclude=exclude)}
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


def _head_text(incident: int, head: AuditHead) -> bytes:
    return f"audit-head\n{incident}\n{head.count}\n{head.hash}".encode()


@dataclass(frozen=True)
class SignedHead:
    head: AuditHead
    signature: str
    key_id: str = ""


@dataclass(frozen=True)
class Trail:
    """What Redis holds for one incident's audit trail, and what else says it should hold."""

    incident: int
    entries: list[AuditEntry]
    head: SignedHead | None
    requests: set[str]  # requests the approvals store knows: each was audited when it was made
    expected: AuditHead | None = None  # a head Slack showed (or the witness saw)
    shown_by: str = "Slack"


def problems(trail: Trail, seal: Seal) -> list[str]:
    """Everything wrong with the trail, first problem first; empty when it is intact."""
    found = _chain_problem(trail, seal)
    if found is None:
        found = _head_problem(trail, seal)
    if found is None:
        found = _anchor_problem(trail)
    found_list = [found] if found else []
    audited = {entry.request for entry in trail.entries if entry.kind is AuditKind.REQUESTED}
    missing = sorted(trail.requests - audited)
    if missing:
        found_list.append(f"request {', '.join(missing)} has no “requested” entry (its entries were removed)")
    return found_list


def _chain_problem(trail: Trail, seal: Seal) -> str | None:
    entries, incident = trail.entries, trail.incident
    previous, expected = GENESIS, 1
    for index, entry in enumerate(entries):
        if entry.algorithm != seal.algorithm:
            return (
                f"entry {entry.position} is sealed with {entry.algorithm or 'nothing'} where this bot seals with "
                f"{seal.algorithm} (re-sealed, or AUDIT_SIGNING_KEY differs from the bot's)"
            )
        if entry.algorithm == KEYED and not seal.knows(entry.key_id):
            key = f"the key `{entry.key_id}`" if entry.key_id else "AUDIT_SIGNING_KEY"
            return (
                f"entry {entry.position} is sealed with {key}, which this bot does not hold (keep retired keys in "
                "AUDIT_SIGNING_KEYS, and AUDIT_SIGNING_KEY for the seals made before keys were named)"
            )
        if not seal.entry_holds(incident, entry):
            following = entries[index + 1] if index + 1 < len(entries) else None
            if following is not None and following.previous == previous:
                return f"an entry was inserted after entry {expected - 1} (it is not part of the chain)"
            return f"entry {expected} was edited or forged (its content does not match its seal)"
        if entry.position == expected and entry.previous == previous:
            previous, expected = entry.hash, expected + 1
            continue
        if entry.position == expected:
            return f"entry {expected} does not follow entry {expected - 1} (its seal names another entry before it)"
        later = {other.position for other in entries[index + 1 :]}
        if entry.position > expected and expected not in later:
            gap = f"entry {expected}" if entry.position == expected + 1 else f"entries {expected}–{entry.position - 1}"
            return f"{gap} {'is' if entry.position == expected + 1 else 'are'} missing"
        return f"entry {entry.position} is out of order (found where entry {expected} belongs)"
    return None


def _head_problem(trail: Trail, seal: Seal) -> str | None:
    last = AuditHead(len(trail.entries), trail.entries[-1].hash) if trail.entries else EMPTY
    if trail.head is None:
        return "the signed head is missing (deleted)" if trail.entries else None
    head = trail.head.head
    if not seal.head_holds(trail.incident, head, trail.head.signature, trail.head.key_id):
        return "the head's signature does not hold (the head was rewritten)"
    if head.count > last.count:
        gone = head.count - last.count
        missing = "the last entry is" if gone == 1 else f"the last {gone} entries are"
        return f"{missing} missing (the head says {head.count})"
    if head != last:
        return f"the head says {head.count} entries ending {head.hash[:SHORT]}, the trail has {last.short}"
    return None


def _anchor_problem(trail: Trail) -> str | None:
    expected = trail.expected
    if expected is None:
        return None
    by = trail.shown_by
    if expected.count > len(trail.entries):
        return f"{by} showed {expected.count} entries, the trail has {len(trail.entries)}"
    seal = trail.entries[expected.count - 1].hash if expected.count else GENESIS
    if not seal.startswith(expected.hash):
        return f"entry {expected.count} is not the one {by} showed ({expected.hash} there, {seal[:SHORT]} here)"
    return None


def witness_entry(at: datetime, incident: int, head: AuditHead) -> AuditEntry:
    """The witness chain's record that `incident`'s trail reached `head`."""
    return AuditEntry(
        at=at,
        kind=AuditKind.WITNESSED,
        actor=None,
        request="",
        summary=f"incident {incident}: {head.count} entries, head {head.hash}",
        details={"incident": incident, "count": head.count, "hash": head.hash},
    )


def witnessed(witness: Sequence[AuditEntry]) -> dict[int, AuditHead]:
    """The last head the witness saw of each incident's trail."""
    seen: dict[int, AuditHead] = {}
    for entry in witness:
        details = entry.details
        if entry.kind is AuditKind.WITNESSED and {"incident", "count", "hash"} <= details.keys():
            seen[int(details["incident"])] = AuditHead(int(details["count"]), str(details["hash"]))
    return seen


def witness_problems(trail: Trail, seen: AuditHead | None, seal: Seal) -> list[str]:
    """What is wrong with one incident's trail, against itself and against what the witness saw of it."""
    found = problems(Trail(trail.incident, trail.entries, trail.head, trail.requests, seen, "the witness"), seal)
    if seen is None and trail.entries:
        found.append(f"its {len(trail.entries)} entries were never witnessed (written outside the bot)")
    elif seen is not None and len(trail.entries) > seen.count and not found:
        extra = len(trail.entries) - seen.count
        found.append(f"its last {extra} entries were never witnessed (written outside the bot)")
    return found
