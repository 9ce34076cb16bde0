"""The approval store's scripts on a real Redis, without Slack: the one decision and each of its refusals, the moves
of the core's table and nothing else, the execution's claim at every status, a revert's mark on its original, and
each change written with its audit entry. The same rules end to end are in `test_killswitches.py` and
`test_safety.py`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.adapters.redis_store.approvals import ApprovalStore, RevertAlreadyAsked
from bot.adapters.redis_store.audit import AuditStore
from bot.adapters.redis_store.events import EventOutbox
from bot.adapters.redis_store.incidents import IncidentStore
from bot.core.approval import (
    MOVES,
    Action,
    ApprovalRequest,
    Move,
    Outcome,
    Refusal,
    RequestStatus,
    Verification,
)
from bot.core.audit import Audit, AuditEntry, AuditKind, Seal
from bot.core.incident import IncidentStatus
from tests.builders import an_incident
from tests.conftest import delete_prefix, new_prefix
from tests.fakes.redis_proxy import RedisProxy

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
ALICE, BOB, CAROL, MALLORY = "U0ALICE01", "U0BOB0001", "U0CAROL01", "U0MALLORY"


@dataclass
class Approvals:
    redis: redis.Redis
    prefix: str
    store: ApprovalStore
    audit: AuditStore
    incidents: IncidentStore

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    def entry(self, kind: AuditKind, request: ApprovalRequest, actor: str | None = None) -> Audit:
        summary = f"{kind.value}: {request.title}"
        return Audit(request.incident, AuditEntry(at=AT, kind=kind, actor=actor, request=request.id, summary=summary))

    def create(self, request: ApprovalRequest, approvers: frozenset[str] = frozenset({BOB, CAROL})) -> None:
        self.store.create(request, approvers, self.entry(AuditKind.REQUESTED, request, request.requester))

    def decide(self, request: ApprovalRequest, actor: str, approve: bool = True, at: datetime = AT) -> Refusal | None:
        kind = AuditKind.APPROVED if approve else AuditKind.DENIED
        return self.store.decide(request, actor, approve, at, self.entry(kind, request, actor))

    def status(self, request: ApprovalRequest) -> RequestStatus:
        found = self.store.get(request.id)
        assert found is not None
        return found[1].status

    def claim(self, request: ApprovalRequest, at: datetime = AT, lease: int = 60) -> str:
        cancelled = self.entry(AuditKind.CANCELLED, request)
        lost = self.entry(AuditKind.UNKNOWN, request)
        return self.store.claim(request, at, lease, cancelled, lost)

    def kinds(self, incident: int = 1) -> list[AuditKind]:
        return [entry.kind for entry in self.audit.entries(incident)]

    def unsent(self) -> set[str]:
        return set(self.redis.smembers(self.key("approvals", "unsent")))


@pytest.fixture
def approvals(redis_url: str) -> Iterator[Approvals]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = new_prefix("approvals")
    incidents = IncidentStore(client, prefix, EventOutbox(client, prefix))
    incidents.save(an_incident(number=1, status=IncidentStatus.INVESTIGATING))
    audit = AuditStore(client, prefix, Seal(b"approvals-key-0123456789abcdef"))
    yield Approvals(client, prefix, ApprovalStore(client, prefix, audit), audit, incidents)
    delete_prefix(client, prefix)
    client.close()


def a_request(name: str = "r1", **fields: object) -> ApprovalRequest:
    values: dict[str, object] = {
        "id": name,
        "incident": 1,
        "title": "orgChatSurfacesEnabled = none",
        "mechanism": "fm_config",
        "switch": "org-chat-off",
        "change": {"record": "FM_Config.Default", "fields": {"orgChatSurfacesEnabled__c": "none"}},
        "plan": ["Metadata API updateMetadata"],
        "requester": ALICE,
        "reason": "bleeding",
        "created_at": AT,
        "expires_at": AT + timedelta(minutes=30),
        "revertible": True,
    }
    return ApprovalRequest.model_validate(values | fields)


def test_a_request_is_stored_pending_with_its_approvers_and_its_entry(approvals: Approvals) -> None:
    request = a_request()
    approvals.create(request)
    found = approvals.store.get(request.id)
    assert found == (request, Outcome())
    assert approvals.store.approvers(request.id) == {BOB, CAROL}
    assert approvals.store.of_incident(1) == ["r1"] and approvals.store.version(request.id) == 0
    assert approvals.kinds() == [AuditKind.REQUESTED]
    assert approvals.store.get("nothing") is None and approvals.store.version("nothing") == 0


def test_the_one_decision_and_each_refusal_writes_nothing(approvals: Approvals) -> None:
    request = a_request()
    assert approvals.decide(request, BOB) is Refusal.MISSING
    approvals.create(request)
    assert approvals.decide(request, ALICE) is Refusal.SELF
    assert approvals.decide(request, MALLORY) is Refusal.UNAUTHORIZED
    assert approvals.decide(request, MALLORY, approve=False) is Refusal.UNAUTHORIZED
    late = request.expires_at
    assert approvals.decide(request, BOB, at=late) is Refusal.EXPIRED
    assert approvals.kinds() == [AuditKind.REQUESTED] and approvals.store.version(request.id) == 0
    assert approvals.decide(request, BOB, at=late - timedelta(seconds=1)) is None
    _, outcome = approvals.store.get(request.id)  # type: ignore[misc]
    assert (outcome.status, outcome.decided_by, outcome.decided_at) == (
        RequestStatus.APPROVED,
        BOB,
        late - timedelta(seconds=1),
    )
    assert approvals.decide(request, CAROL) is Refusal.DECIDED
    assert approvals.kinds() == [AuditKind.REQUESTED, AuditKind.APPROVED]
    assert approvals.store.version(request.id) == 1 and approvals.unsent() == {"r1"}


def test_a_requester_may_withdraw_and_a_closed_incident_refuses_all_but_a_revert(approvals: Approvals) -> None:
    withdrawn = a_request("r1")
    approvals.create(withdrawn)
    assert approvals.decide(withdrawn, ALICE, approve=False) is None
    assert approvals.status(withdrawn) is RequestStatus.DENIED and approvals.unsent() == set()
    late, revert = a_request("r2"), a_request("r3", action=Action.REVERT, reverts="r9")
    approvals.create(late)
    approvals.create(revert)
    incident = approvals.incidents.get(1)
    assert incident is not None
    approvals.incidents.update(incident, status=IncidentStatus.RESOLVED)
    assert approvals.decide(late, BOB) is Refusal.CLOSED
    assert approvals.decide(revert, BOB) is None  # a switch left on may be reverted after resolve


def test_each_move_starts_only_from_its_statuses_and_keeps_the_unsent_index(approvals: Approvals) -> None:
    request = a_request()
    approvals.create(request)
    assert not approvals.store.move(request, Move.SEND)  # pending cannot be sent
    assert not approvals.store.move(a_request("gone"), Move.CANCEL)
    approvals.decide(request, BOB)
    assert approvals.store.move(request, Move.PREPARE) and approvals.unsent() == {"r1"}
    outcome = Outcome(prior={"orgChatSurfacesEnabled__c": "all"}, result="sent", verification=Verification.VERIFIED)
    sent = approvals.entry(AuditKind.EXECUTION_STARTED, request)
    assert approvals.store.move(request, Move.SEND, outcome, sent)
    assert approvals.unsent() == set()
    _, stored = approvals.store.get(request.id)  # type: ignore[misc]
    assert stored.prior == outcome.prior and stored.result == "sent" and stored.verification is Verification.VERIFIED
    for move, (froms, _) in MOVES.items():  # nothing sent goes back, nor is cancelled
        if RequestStatus.SENDING not in froms:
            assert not approvals.store.move(request, move), move
    assert approvals.status(request) is RequestStatus.SENDING
    assert approvals.kinds() == [AuditKind.REQUESTED, AuditKind.APPROVED, AuditKind.EXECUTION_STARTED]
    assert approvals.store.version(request.id) == 3


def test_the_claim_says_what_each_status_needs_and_holds_a_lease(approvals: Approvals) -> None:
    request = a_request()
    approvals.create(request)
    assert approvals.claim(request) == "done"  # pending: nothing to execute
    approvals.decide(request, BOB)
    assert approvals.claim(request) == "prepare" and approvals.status(request) is RequestStatus.PREPARING
    assert approvals.claim(request, AT + timedelta(seconds=59)) == "busy"
    assert approvals.claim(request, AT + timedelta(seconds=61)) == "prepare"  # the lease ran out
    approvals.store.release(request.id)
    _, outcome = approvals.store.get(request.id)  # type: ignore[misc]
    assert outcome.attempts == 2
    approvals.store.move(request, Move.SEND)
    assert approvals.claim(request) == "lost"  # a worker died while sending: never approved again
    assert approvals.status(request) is RequestStatus.UNKNOWN and approvals.kinds()[-1] is AuditKind.UNKNOWN
    approvals.store.release(request.id)
    assert approvals.claim(request) == "settle"
    approvals.store.release(request.id)
    approvals.store.move(request, Move.APPLIED)
    assert approvals.claim(request) == "finish"
    approvals.store.release(request.id)
    approvals.store.move(request, Move.FINISHED)
    assert approvals.claim(request) == "verify"
    approvals.store.release(request.id)
    approvals.store.record(request, Outcome(status=RequestStatus.EXECUTED, verification=Verification.VERIFIED))
    assert approvals.claim(request) == "done"
    assert approvals.claim(a_request("gone")) == "done"


def test_a_claim_after_resolve_cancels_what_was_not_sent_but_a_revert_goes_on(approvals: Approvals) -> None:
    request, revert = a_request("r1"), a_request("r2", action=Action.REVERT, reverts="r0")
    guided = a_request("r3", mechanism="named_credential", guided=True)
    for each in (request, revert, guided):
        approvals.create(each)
        approvals.decide(each, BOB)
    approvals.claim(guided)
    approvals.store.move(guided, Move.GUIDE)
    approvals.store.release(guided.id)
    incident = approvals.incidents.get(1)
    assert incident is not None
    approvals.incidents.update(incident, status=IncidentStatus.RESOLVED)
    assert approvals.claim(request) == "cancelled" and approvals.status(request) is RequestStatus.CANCELLED
    assert approvals.kinds()[-1] is AuditKind.CANCELLED and approvals.unsent() == {"r2"}
    assert approvals.claim(revert) == "prepare"
    assert approvals.claim(guided) == "watch"  # a person may be making it in Setup: it is read until seen


def test_a_revert_marks_its_original_once_and_frees_it_when_it_changed_nothing(approvals: Approvals) -> None:
    original = a_request("r1")
    approvals.create(original)
    revert = a_request("r2", action=Action.REVERT, reverts="r1")
    approvals.create(revert)
    _, marked = approvals.store.get("r1")  # type: ignore[misc]
    assert marked.reverted_by == "r2" and approvals.store.version("r1") == 1
    with pytest.raises(RevertAlreadyAsked) as asked:
        approvals.create(a_request("r3", action=Action.REVERT, reverts="r1"))
    assert str(asked.value) == "r2" and approvals.store.get("r3") is None
    assert approvals.kinds() == [AuditKind.REQUESTED, AuditKind.REQUESTED]
    assert approvals.decide(revert, BOB, approve=False) is None  # the revert denied: it changed nothing
    _, freed = approvals.store.get("r1")  # type: ignore[misc]
    assert freed.reverted_by is None and approvals.store.version("r1") == 2
    again = a_request("r4", action=Action.REVERT, reverts="r1")
    approvals.create(again)
    approvals.decide(again, CAROL)
    approvals.claim(again)
    approvals.store.move(again, Move.SEND)
    approvals.store.move(again, Move.APPLIED)
    _, kept = approvals.store.get("r1")  # type: ignore[misc]
    assert kept.reverted_by == "r4"  # a revert that changed the org keeps its mark


def test_a_record_stores_details_and_its_entry_and_cards_are_kept_in_order(approvals: Approvals) -> None:
    request = a_request()
    assert approvals.store.all_of_incident(1) == {}
    approvals.store.record(request, Outcome(observed="x"))  # no such request: nothing is written
    assert approvals.store.get(request.id) is None and approvals.kinds() == []
    approvals.create(request)
    checked = approvals.entry(AuditKind.VERIFIED, request)
    approvals.store.record(request, Outcome(observed="read back", verification=Verification.NOT_VERIFIED), checked)
    _, outcome = approvals.store.get(request.id)  # type: ignore[misc]
    assert outcome.observed == "read back" and outcome.verification is Verification.NOT_VERIFIED
    assert outcome.status is RequestStatus.PENDING  # a record never moves the request
    assert approvals.kinds() == [AuditKind.REQUESTED, AuditKind.VERIFIED] and approvals.store.version("r1") == 1
    approvals.store.add_card("r1", "C1", "1.000100")
    approvals.store.add_card("r1", "D0BOB", "2.000200")
    approvals.store.add_card("r1", "D0CAROL", "3.000300")
    assert approvals.store.cards("r1") == [("C1", "1.000100"), ("D0BOB", "2.000200"), ("D0CAROL", "3.000300")]
    older = a_request("z0", created_at=AT - timedelta(minutes=5))
    approvals.create(older)
    assert list(approvals.store.all_of_incident(1)) == ["z0", "r1"]  # oldest first, whatever their ids


def test_the_sweep_finds_each_request_approved_and_not_sent(approvals: Approvals) -> None:
    first, second, third = a_request("a1"), a_request("a2"), a_request("a3")
    for each in (first, second, third):
        approvals.create(each)
    approvals.decide(first, BOB)
    approvals.decide(second, BOB)
    approvals.decide(third, BOB, approve=False)
    assert list(approvals.store.unsent()) == ["a1", "a2"]
    approvals.claim(first)
    approvals.store.move(first, Move.DRY_RUN)
    assert list(approvals.store.unsent()) == ["a2"]
    approvals.claim(second)
    approvals.store.move(second, Move.RELEASE)  # nothing was sent: back to approved, still waiting
    assert list(approvals.store.unsent()) == ["a2"] and approvals.status(second) is RequestStatus.APPROVED


def test_a_request_stored_before_reverts_had_a_field_of_their_own_keeps_its_revert(approvals: Approvals) -> None:
    """A bot before 0.2 kept a revert's mark in the outcome's JSON only: it is still read, and the field, once
    written, is the truth ('' when the revert changed nothing)."""
    request = a_request()
    approvals.create(request)
    key = approvals.key("approval", request.id)
    approvals.redis.hdel(key, "reverted_by")
    approvals.redis.hset(key, "outcome", Outcome(reverted_by="r9").model_dump_json())
    found = approvals.store.get(request.id)
    assert found is not None and found[1].reverted_by == "r9"
    approvals.redis.hset(key, "reverted_by", "")
    found = approvals.store.get(request.id)
    assert found is not None and found[1].reverted_by is None


@pytest.mark.parametrize("knows_waitaof", [True, False])
def test_durable_waits_for_the_local_disk_and_asks_a_redis_without_waitaof_once(
    knows_waitaof: bool, redis_proxy: RedisProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """WAITAOF 1 0 1000 (Redis 7.2+: the local append-only file fsynced, no replica awaited, one second at most)
    each time; a Redis that does not know it (the suite's) is asked once, and the log says what is relied on."""
    client = redis.Redis.from_url(redis_proxy.url, decode_responses=True)
    try:
        if knows_waitaof:
            redis_proxy.answer(r"^WAITAOF\b", b"*2\r\n:1\r\n:0\r\n")  # fsynced locally, no replica: as 7.2 says
        store = ApprovalStore(client, new_prefix("durable"), AuditStore(client, "unused", Seal(b"k" * 32)))
        with caplog.at_level(logging.INFO, logger="bot.adapters.redis_store.approvals"):
            store.durable()
            store.durable()
    finally:
        client.close()
    said = [r.getMessage() for r in caplog.records if r.name == "bot.adapters.redis_store.approvals"]
    waits = [c for c in redis_proxy.commands if c.upper().startswith("WAITAOF")]
    if knows_waitaof:
        assert (waits, said) == (["WAITAOF 1 0 1000"] * 2, [])
    else:
        assert waits == ["WAITAOF 1 0 1000"] and len(said) == 1
        assert said[0].startswith("WAITAOF is not available (") and "WAITAOF" in said[0][26:]
        assert said[0].endswith("): relying on the append-only file's fsync policy")
