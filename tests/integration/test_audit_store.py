"""The audit trail's store and its checks on a real Redis, without Slack: entries sealed in order under a signed
head, each witnessed in the global chain and written as one JSON log line; writers racing each other; a trail
from before the witness adopted; every incident checked against the witness. The same behaviours end to end,
over Slack and the CLI, are in `test_audit.py`."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis

from bot.adapters.redis_store.approvals import ApprovalStore
from bot.adapters.redis_store.audit import AuditStore
from bot.adapters.redis_store.events import EventOutbox
from bot.adapters.redis_store.incidents import IncidentStore
from bot.core.audit import EMPTY, GENESIS, Audit, AuditEntry, AuditHead, AuditKind, Seal, SignedHead
from bot.core.events import SwitchChanged
from bot.core.incident import IncidentStatus
from bot.services.audit import AllChecked, AuditService
from bot.services.errors import UserError
from tests.builders import an_incident
from tests.conftest import ManualClock, delete_prefix, new_prefix

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

KEY = b"audit-key-for-tests-0123456789abcdef"
AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


@dataclass
class Trails:
    redis: redis.Redis
    prefix: str
    store: AuditStore
    service: AuditService
    incidents: IncidentStore
    outbox: EventOutbox

    def declare(self, count: int) -> None:
        for n in range(count):
            _, number = self.incidents.claim_number(f"declare-{n}")
            self.incidents.save(
                an_incident(number=number, channel_id=f"C{number}", status=IncidentStatus.INVESTIGATING)
            )

    def write(self, incident: int, summary: str, **kind: object) -> AuditEntry:
        entry = AuditEntry(at=AT, kind=AuditKind.CHECKED, actor="U0ALICE01", request="step:x", summary=summary)
        return self.store.append(Audit(incident, entry, **kind))  # type: ignore[arg-type]

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])


@pytest.fixture
def trails(redis_url: str) -> Iterator[Trails]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = new_prefix("audit")
    outbox = EventOutbox(client, prefix)
    incidents = IncidentStore(client, prefix, outbox)
    store = AuditStore(client, prefix, Seal(KEY, [("2026-12", KEY + b"-new")]))
    service = AuditService(store, ApprovalStore(client, prefix, store), incidents, ManualClock(AT))
    yield Trails(client, prefix, store, service, incidents, outbox)
    delete_prefix(client, prefix)
    client.close()


def test_entries_are_sealed_in_order_under_a_signed_head_and_each_is_witnessed(trails: Trails) -> None:
    trails.declare(2)
    assert trails.store.head(1) == EMPTY and trails.store.signed_head(1) is None and trails.store.entries(1) == []
    first = trails.write(1, "first")
    second = trails.write(1, "second")
    other = trails.write(2, "elsewhere")
    assert [e.position for e in trails.store.entries(1)] == [1, 2]
    assert (first.previous, second.previous) == (GENESIS, first.hash)
    assert first.key_id == "2026-12" and first.algorithm == second.algorithm != ""
    assert trails.store.entries(1) == [first, second] and trails.store.entries(2) == [other]
    signed = trails.store.signed_head(1)
    assert signed is not None and signed.head == AuditHead(2, second.hash) == trails.store.head(1)
    assert signed.key_id == "2026-12" and signed.signature == trails.store.seal.head(1, signed.head)
    assert trails.redis.hgetall(trails.key("incident", 1, "audit", "head")) == {
        "count": "2",
        "hash": second.hash,
        "signature": signed.signature,
        "key_id": "2026-12",
    }
    witness = trails.store.witness()
    assert [(w.position, w.details) for w in witness] == [
        (1, {"incident": 1, "count": 1, "hash": first.hash}),
        (2, {"incident": 1, "count": 2, "hash": second.hash}),
        (3, {"incident": 2, "count": 1, "hash": other.hash}),
    ]
    witness_head = trails.store.witness_head()
    assert witness_head is not None and witness_head.head == AuditHead(3, witness[-1].hash)
    assert trails.service.check(1)[1] == [] and trails.service.check(2)[1] == []
    assert trails.service.check_all() == AllChecked([], {}, 2, 3)
    assert trails.outbox.stream and not trails.redis.exists(trails.key("events"))  # no event was told


def test_an_entry_with_an_event_tells_the_subscribers_in_the_same_write(trails: Trails) -> None:
    trails.declare(1)
    event = SwitchChanged(incident=1, at=AT, request="r1", change="verified")
    entry = AuditEntry(at=AT, kind=AuditKind.VERIFIED, actor=None, request="r1", summary="verified: x")
    trails.store.append(Audit(1, entry, event=event))
    told = trails.redis.xrange(trails.key("events"))
    assert [json.loads(fields["event"])["change"] for _, fields in told] == ["verified"]


def test_each_entry_is_logged_once_written_and_a_private_incidents_without_its_words(
    trails: Trails, caplog: pytest.LogCaptureFixture
) -> None:
    trails.declare(2)
    caplog.set_level("INFO", logger="bot.audit")
    public = trails.write(1, "Quokka in the open")
    trails.write(2, "Quokka in private", private=True)
    logged = [(r.__dict__["incident"], r.__dict__["audit"]) for r in caplog.records if r.name == "bot.audit"]
    assert logged[0] == (1, public.model_dump(mode="json"))
    assert logged[1][0] == 2 and logged[1][1]["summary"] == "[private incident]" and logged[1][1]["details"] == {}
    assert logged[1][1]["hash"] == trails.store.entries(2)[0].hash
    assert len(logged) == 2 and "Quokka in private" not in caplog.text


def test_writers_racing_each_other_leave_one_unbroken_chain(trails: Trails) -> None:
    """Each entry is sealed against the head as read, and the script writes it only if no other came in between
    (else it is sealed again): four writers, forty entries, one chain, and the witness saw every one."""
    trails.declare(1)

    def writer(name: str) -> None:
        for n in range(10):
            trails.write(1, f"{name} {n}")

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = trails.store.entries(1)
    assert [e.position for e in entries] == list(range(1, 41))
    assert all(later.previous == earlier.hash for earlier, later in itertools.pairwise(entries))
    assert len(trails.store.witness()) == 40
    assert trails.service.check_all() == AllChecked([], {}, 1, 40)


def test_a_write_sealed_against_an_old_head_is_refused_by_the_script(trails: Trails) -> None:
    trails.declare(1)
    entry = AuditEntry(at=AT, kind=AuditKind.CHECKED, actor=None, request="step:x", summary="late")
    late = trails.store.prepare(Audit(1, entry))
    trails.write(1, "meanwhile")
    assert trails.store._append(keys=late.keys, args=[late.payload]) == "stale"
    assert [e.summary for e in trails.store.entries(1)] == ["meanwhile"]
    witness_only = trails.store.prepare(None, 1, AT)
    trails.write(1, "and again")
    assert trails.store._adopt(keys=witness_only.keys, args=[witness_only.payload]) == "stale"
    assert len(trails.store.witness()) == 2


def test_a_trail_from_before_the_witness_is_adopted_when_intact_and_refused_when_not(trails: Trails) -> None:
    trails.declare(3)
    for incident in (1, 2, 3, 4):  # written as a bot before the witness did: the trail and its head only
        head = EMPTY
        stream = trails.key("incident", incident, "audit")
        for n in range(2):
            entry = AuditEntry(at=AT, kind=AuditKind.CHECKED, actor=None, request="step:x", summary=f"old {n}")
            sealed = trails.store.seal.entry(incident, entry, head)
            trails.redis.xadd(stream, {"entry": sealed.model_dump_json()})
            head = AuditHead(sealed.position, sealed.hash)
        trails.redis.hset(
            f"{stream}:head",
            mapping={
                "count": head.count,
                "hash": head.hash,
                "signature": trails.store.seal.head(incident, head),
                "key_id": "2026-12",
            },
        )
    trails.redis.xtrim(
        trails.key("incident", 2, "audit"), maxlen=1, approximate=False
    )  # incident 2's first entry lost since
    before = trails.service.check_all()
    assert before.incidents[1] == ["its 2 entries were never witnessed (written outside the bot)"]
    assert before.checked == 3 and before.entries == 5  # incident 4 was never declared: the witness never saw it
    adopted, refused = trails.service.adopt()
    assert adopted == [1, 3] and list(refused) == [2] and refused[2]  # one broken trail stops no other
    assert trails.service.adopt() == ([], refused)  # adopted once; the broken trail stays out
    after = trails.service.check_all()
    assert sorted(after.incidents) == [2] and after.witness == []
    witnessed = trails.store.witness()
    assert [(w.details["incident"], w.details["count"]) for w in witnessed] == [(1, 2), (3, 2)]
    assert witnessed[0].at == AT  # sealed when adopted


def test_every_incident_is_checked_against_the_witness_even_one_that_is_gone(trails: Trails) -> None:
    trails.declare(2)
    trails.write(2, "kept")
    trails.redis.delete(trails.key("incident", 2))  # the incident itself removed: the witness still names it
    found = trails.service.check_all()
    assert found.incidents == {2: ["the incident is gone, but the witness saw its audit trail"]}
    assert (found.checked, found.entries) == (2, 1)
    trails.write(5, "an incident never declared")  # numbers the witness saw are checked beyond the last declared
    assert sorted(trails.service.check_all().incidents) == [2, 5]
    with pytest.raises(UserError):
        trails.service.check(3)


def test_a_head_that_is_not_the_bots_reads_as_empty_and_its_signature_fails(trails: Trails) -> None:
    trails.declare(1)
    head_key = trails.key("incident", 1, "audit", "head")
    trails.redis.hset(head_key, mapping={"count": "many", "hash": "x"})
    assert trails.store.signed_head(1) == SignedHead(EMPTY, "")
    assert trails.store.head(1) == EMPTY
    written = trails.store.prepare(
        Audit(1, AuditEntry(at=AT, kind=AuditKind.CHECKED, actor=None, request="r", summary="s"))
    )
    assert written.sealed.position == 1 and written.sealed.previous == GENESIS  # sealed after an empty head
    trails.redis.delete(head_key)
    trails.redis.hset(head_key, mapping={"count": "1", "hash": "a" * 64, "signature": "s"})  # before key ids
    assert trails.store.signed_head(1) == SignedHead(AuditHead(1, "a" * 64), "s", "")
    trails.redis.delete(head_key)
    trails.redis.hset(head_key, mapping={"count": "1"})  # no hash, no signature
    assert trails.store.signed_head(1) == SignedHead(EMPTY, "")
    assert trails.service.check(1)[1]
