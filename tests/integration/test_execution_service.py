"""The execution service on its own: an approved request written straight into the store, one attempt run the way
the worker runs it, against the fake org through the real gateway and a real Redis. What each path leaves: the
request's status and outcome, its audit entries word for word, the event the subscribers hear, the step that asked
for it. The same paths end to end, from a click to the card, are in `test_execution.py` and
`test_killswitches.py`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bot.core.approval import Action, ApprovalRequest, Move, RequestStatus, Verification
from bot.core.audit import Audit, AuditEntry, AuditKind
from bot.core.incident import IncidentStatus
from bot.core.walkthrough import StepStatus
from bot.jobs import JobName
from bot.services.execution import RetryLater
from tests.builders import an_incident
from tests.conftest import RunningBot, step_state
from tests.fakes.salesforce import FakeSalesforce

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

ALICE, BOB = "U0ALICE01", "U0BOB0001"
CLEAR_CACHE = (
    "Cache.OrgPartition p = Cache.Org.getPartition('local.FMLLMCache');\n"
    "for (String k : p.getKeys()) {\n  p.remove(k);\n}"
)


def declared(bot: RunningBot, **fields: Any) -> None:
    """Incident 1, investigating, without Slack."""
    incident = an_incident(number=1, status=IncidentStatus.INVESTIGATING, declared_at=bot.clock.now(), **fields)
    bot.services.incidents.store.save(incident)


def approved(
    bot: RunningBot, key: str | None = "org-chat-off", target: dict[str, str] | None = None, **fields: Any
) -> ApprovalRequest:
    """A request for the switch `key` (or for what `fields` name), requested by Alice and approved by Bob."""
    approvals = bot.services.approvals
    values: dict[str, Any] = {}
    if key is not None:
        found = approvals.runbook.switches.get(key)
        assert found is not None
        change = found.uses.change(found.mechanism, target or {}, approvals.setup)
        values = {
            "title": found.title,
            "mechanism": found.uses.name,
            "switch": key,
            "change": change,
            "plan": found.uses.plan(change),
            "revertible": found.uses.revertible,
            "guided": found.uses.guided,
        }
    now = bot.clock.now()
    request = ApprovalRequest.model_validate(
        {
            "id": uuid.uuid4().hex[:10],
            "incident": 1,
            "requester": ALICE,
            "reason": "bleeding",
            "created_at": now,
            "expires_at": now + timedelta(minutes=30),
            **values,
            **fields,
        }
    )
    store = approvals.approvals
    requested = AuditEntry(at=now, kind=AuditKind.REQUESTED, actor=ALICE, request=request.id, summary="requested")
    store.create(request, frozenset({BOB}), Audit(1, requested))
    decided = AuditEntry(at=now, kind=AuditKind.APPROVED, actor=BOB, request=request.id, summary="approved")
    assert store.decide(request, BOB, True, now, Audit(1, decided)) is None
    return request


def changed_by_a_trigger(org: FakeSalesforce) -> None:
    """Each update of FM_Config is answered, then something in the org sets the field to another value."""
    org.after_metadata.append(
        lambda body: (
            org.metadata["FM_Config.Default"].update(orgChatSurfacesEnabled__c="some")
            if b"updateMetadata" in body
            else None
        )
    )


def outcome(bot: RunningBot, request: ApprovalRequest) -> Any:
    found = bot.services.approvals.approvals.get(request.id)
    assert found is not None
    return found[1]


def trail(bot: RunningBot) -> list[tuple[AuditKind, str]]:
    """The entries after the request and its approval: (kind, summary)."""
    return [(e.kind, e.summary) for e in bot.services.audit.entries(1)][2:]


def told(bot: RunningBot) -> list[str]:
    """What the subscribers hear of the kill switches, in order."""
    return [
        fields["event"].split('"change":"')[1].split('"')[0]
        for _, fields in bot.services.redis.data.xrange(f"{bot.services.settings.key_prefix}:events")
        if '"switch changed"' in fields["event"]
    ]


def test_a_switch_is_prepared_sent_finished_and_verified_with_every_entry(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    request = approved(sf_bot)
    sf_bot.services.execution.execute(request.id)
    done = outcome(sf_bot, request)
    assert done.status is RequestStatus.EXECUTED and done.verification is Verification.VERIFIED
    assert done.prior == {"orgChatSurfacesEnabled__c": "all"} and done.attempts == 1
    assert done.result == "FM_Config.Default: orgChatSurfacesEnabled__c = none; FMConfig.refresh() ran."
    assert done.observed == "read back orgChatSurfacesEnabled__c = none" and done.error == ""
    assert done.sent_at == sf_bot.clock.now()
    assert trail(sf_bot) == [
        (AuditKind.EXECUTION_STARTED, "execution started (attempt 1)"),
        (AuditKind.EXECUTED, f"executed {request.title}: FM_Config.Default: orgChatSurfacesEnabled__c = none"),
        (AuditKind.VERIFIED, "verified: read back orgChatSurfacesEnabled__c = none"),
    ]
    executed = sf_bot.services.audit.entries(1)[3]
    assert executed.details == {"prior": {"orgChatSurfacesEnabled__c": "all"}, "plan": request.plan}
    assert executed.actor is None
    assert sf_bot.services.audit.entries(1)[4].details == {"observed": "read back orgChatSurfacesEnabled__c = none"}
    assert told(sf_bot) == ["executed", "verified"]
    assert fake_org.metadata_updates == 1 and fake_org.apex == ["FMConfig.refresh();"]
    incident = sf_bot.services.incidents.store.get(1)
    assert incident is not None and incident.mitigated_at == sf_bot.clock.now()  # a verified containment
    sf_bot.services.execution.execute(request.id)  # delivered again: done, nothing sent
    assert fake_org.metadata_updates == 1 and len(sf_bot.services.audit.entries(1)) == 5


def test_a_revert_verified_is_told_as_reverted_and_marks_nothing_mitigated(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] = "none"
    revert = approved(
        sf_bot,
        None,
        title="orgChatSurfacesEnabled = none (revert)",
        mechanism="fm_config",
        switch="org-chat-off",
        change={"record": "FM_Config.Default", "fields": {"orgChatSurfacesEnabled__c": "all"}},
        plan=["Metadata API updateMetadata"],
        action=Action.REVERT,
        reverts="0000000000",
    )
    sf_bot.services.execution.execute(revert.id)
    assert outcome(sf_bot, revert).verification is Verification.VERIFIED
    assert told(sf_bot) == ["executed", "reverted"]
    incident = sf_bot.services.incidents.store.get(1)
    assert incident is not None and incident.mitigated_at is None


def test_a_drill_sends_nothing_and_says_so(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    declared(sf_bot, drill=True)
    request = approved(sf_bot, drill=True)
    sf_bot.services.execution.execute(request.id)
    dry = outcome(sf_bot, request)
    assert dry.status is RequestStatus.DRY_RUN and dry.result == "dry run: nothing was sent to the org"
    assert dry.observed == ""
    assert trail(sf_bot) == [
        (AuditKind.EXECUTION_STARTED, "execution started (attempt 1)"),
        (AuditKind.DRY_RUN, f"dry run of {request.title}"),
    ]
    assert sf_bot.services.audit.entries(1)[-1].details == {"plan": request.plan}
    assert not fake_org.calls_to("Soap/m") and told(sf_bot) == []


def test_a_read_before_the_change_without_an_answer_is_retried_and_a_refusal_fails_it(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    request = approved(sf_bot)
    fake_org.inject(r"/Soap/m/", "503")
    with pytest.raises(RetryLater, match=r"^Salesforce answered HTTP 503 to the read of FM_Config\.Default\.$"):
        sf_bot.services.execution.execute(request.id)
    assert outcome(sf_bot, request).status is RequestStatus.APPROVED  # nothing sent: ready to prepare again
    fake_org.inject(r"/Soap/m/", "limit")
    sf_bot.services.execution.execute(request.id)
    failed = outcome(sf_bot, request)
    assert failed.status is RequestStatus.FAILED and failed.attempts == 2
    why = "The org's API request limit is exceeded (REQUEST_LIMIT_EXCEEDED). Nothing was sent."
    assert failed.error == why
    assert trail(sf_bot)[-1] == (AuditKind.FAILED, f"failed: {why}")
    assert fake_org.metadata_updates == 0 and told(sf_bot) == []


def test_while_a_change_is_on_its_way_the_request_says_when_it_was_sent(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """The mark written before sending carries the time: a worker that dies during the call leaves it, and the
    settling waits for a late apply from then, not from when the request was made."""
    declared(sf_bot)
    request = approved(sf_bot)
    sf_bot.clock.advance(minutes=3)
    during: list[Any] = []
    fake_org.after_metadata.append(
        lambda body: during.append(outcome(sf_bot, request)) if b"updateMetadata" in body else None
    )
    sf_bot.services.execution.execute(request.id)
    assert [(seen.status, seen.sent_at) for seen in during] == [(RequestStatus.SENDING, sf_bot.clock.now())]
    assert outcome(sf_bot, request).sent_at == sf_bot.clock.now()


def test_a_send_whose_worker_stopped_is_settled_by_reading_the_org_never_sent_again(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """A worker that stopped while sending leaves the request *sending* with its lease run out: the next attempt
    records that the outcome is unknown and reads the org back, which decides; nothing is sent again."""
    declared(sf_bot)
    request = approved(sf_bot)
    store = sf_bot.services.approvals.approvals
    assert store.move(request, Move.PREPARE) and store.move(request, Move.SEND)  # as the stopped worker left it
    fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] = "none"  # the org took the change
    sf_bot.services.execution.execute(request.id)
    settled = outcome(sf_bot, request)
    assert (settled.status, settled.verification) == (RequestStatus.EXECUTED, Verification.VERIFIED)
    assert trail(sf_bot)[:2] == [
        (AuditKind.UNKNOWN, "outcome unknown: the worker stopped while sending"),
        (
            AuditKind.EXECUTED,
            "executed orgChatSurfacesEnabled = none: applied: the org took it, though its answer never came",
        ),
    ]
    assert fake_org.metadata_updates == 0


def test_a_change_the_org_already_shows_is_not_sent(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    declared(sf_bot)
    sf_bot.services.walkthrough.steps.start_playbook(1, "prompt-injection")
    request = approved(sf_bot, scope="prompt-injection", step="org-wide-kill")
    fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] = "none"  # someone did it by hand
    sf_bot.services.execution.execute(request.id)
    unchanged = outcome(sf_bot, request)
    seen = "already in place, nothing was sent: the org shows FM_Config.Default: orgChatSurfacesEnabled__c = none"
    assert unchanged.status is RequestStatus.UNCHANGED and unchanged.result == seen
    assert unchanged.prior == {"orgChatSurfacesEnabled__c": "none"}
    assert trail(sf_bot)[-1] == (AuditKind.UNCHANGED, seen)
    assert sf_bot.services.audit.entries(1)[-1].details == {"prior": {"orgChatSurfacesEnabled__c": "none"}}
    step = step_state(sf_bot, "prompt-injection", "org-wide-kill")
    assert (step.status, step.result) == (StepStatus.DONE, seen)
    assert fake_org.metadata_updates == 0


def test_a_change_the_org_refuses_fails_and_one_without_salesforce_is_never_sent(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    request = approved(sf_bot)
    fake_org.inject(r"/Soap/m/", "limit", skip=2)  # the read before, the update's own read: then the update
    sf_bot.services.execution.execute(request.id)
    refused = outcome(sf_bot, request)
    assert refused.status is RequestStatus.FAILED
    assert refused.error == "The org's API request limit is exceeded (REQUEST_LIMIT_EXCEEDED)."
    assert refused.prior == {"orgChatSurfacesEnabled__c": "all"}  # kept: what was there
    assert [kind for kind, _ in trail(sf_bot)] == [AuditKind.EXECUTION_STARTED, AuditKind.FAILED]
    sf_bot.services.execution.org = None
    other = approved(sf_bot)
    sf_bot.services.execution.execute(other.id)
    assert outcome(sf_bot, other).error == "Salesforce is not connected. Nothing was sent."


def test_a_follow_up_or_a_read_back_that_fails_is_retried_without_sending_again(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    request = approved(sf_bot)
    fake_org.inject(r"executeAnonymous", "limit")
    with pytest.raises(RetryLater, match=r"^The org's API request limit is exceeded \(REQUEST_LIMIT_EXCEEDED\)\.$"):
        sf_bot.services.execution.execute(request.id)
    pending = outcome(sf_bot, request)
    assert pending.status is RequestStatus.APPLIED
    assert pending.observed == (
        "applied; the follow-up did not run yet (The org's API request limit is exceeded (REQUEST_LIMIT_EXCEEDED).), "
        "retrying"
    )
    fake_org.inject(r"/Soap/m/", "503")  # the refresh runs now; the read-back gets no answer
    with pytest.raises(RetryLater, match=r"^Salesforce answered HTTP 503 to the read of FM_Config\.Default\.$"):
        sf_bot.services.execution.execute(request.id)
    unread = outcome(sf_bot, request)
    assert unread.status is RequestStatus.EXECUTED and unread.verification is Verification.PENDING
    assert unread.observed == (
        "applied, not yet verified: reading the org back failed (Salesforce answered HTTP 503 to the read of "
        "FM_Config.Default.); retrying"
    )
    sf_bot.services.execution.execute(request.id)
    assert outcome(sf_bot, request).verification is Verification.VERIFIED
    assert fake_org.metadata_updates == 1 and fake_org.apex == ["FMConfig.refresh();"]


def test_a_change_the_org_does_not_show_is_not_verified(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    declared(sf_bot)
    request = approved(sf_bot)
    changed_by_a_trigger(fake_org)
    sf_bot.services.execution.execute(request.id)
    unverified = outcome(sf_bot, request)
    assert unverified.status is RequestStatus.EXECUTED and unverified.verification is Verification.NOT_VERIFIED
    assert trail(sf_bot)[-1] == (AuditKind.UNVERIFIED, "unverified: read back orgChatSurfacesEnabled__c = some")
    assert told(sf_bot) == ["executed", "not verified"]
    incident = sf_bot.services.incidents.store.get(1)
    assert incident is not None and incident.mitigated_at is None


def test_a_guided_change_is_watched_until_a_person_makes_it(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    declared(sf_bot)
    request = approved(sf_bot, "provider-off", {"named_credential": "OpenAI_API"})
    sf_bot.services.execution.execute(request.id)
    waiting = outcome(sf_bot, request)
    assert waiting.status is RequestStatus.GUIDED and waiting.prior == {"calloutStatus": "Enabled"}
    assert waiting.result == "waiting for a person to make the change in Setup"
    assert trail(sf_bot)[-1] == (AuditKind.GUIDED, f"waiting for a person: {request.title}")
    assert sf_bot.services.audit.entries(1)[-1].details == {"plan": request.plan}
    watch = sf_bot.services.scheduler.job_id("watch", request.id)
    registry = ScheduledJobRegistry(queue=sf_bot.services.scheduler.queue)
    assert registry.get_scheduled_time(watch) == sf_bot.clock.now() + timedelta(seconds=15)  # read again in 15 s
    job = Job.fetch(watch, connection=sf_bot.services.scheduler.queue.connection)
    assert (job.func_name, job.args) == (JobName.WATCH_REQUEST, (request.id,))
    sf_bot.clock.advance(minutes=5)
    fake_org.inject("named-credential-setup", "503")
    with pytest.raises(RetryLater):
        sf_bot.services.execution.execute(request.id)
    assert outcome(sf_bot, request).observed == (
        "waiting for the change to show: reading the org back failed (Salesforce answered HTTP 503 to the read of "
        "the named credential OpenAI_API.); retrying"
    )
    sf_bot.services.execution.execute(request.id)
    assert outcome(sf_bot, request).observed == "OpenAI_API calloutStatus = Enabled"
    assert outcome(sf_bot, request).status is RequestStatus.GUIDED
    fake_org.set_callout_status("OpenAI_API", "Disabled")
    sf_bot.services.execution.execute(request.id)
    seen = outcome(sf_bot, request)
    assert seen.status is RequestStatus.EXECUTED and seen.verification is Verification.VERIFIED
    assert seen.result == "changed in Setup" and seen.observed == "OpenAI_API calloutStatus = Disabled"
    assert told(sf_bot) == ["verified"]


def test_a_guided_change_not_seen_before_the_watch_ends_is_not_verified(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    request = approved(sf_bot, "provider-off", {"named_credential": "OpenAI_API"})
    sf_bot.services.execution.execute(request.id)
    sf_bot.clock.advance(minutes=14, seconds=59)
    sf_bot.services.execution.execute(request.id)
    assert outcome(sf_bot, request).verification is Verification.PENDING
    sf_bot.clock.advance(seconds=1)
    sf_bot.services.execution.execute(request.id)
    ended = outcome(sf_bot, request)
    assert ended.verification is Verification.NOT_VERIFIED
    assert ended.observed == "not seen within 15 minutes: OpenAI_API calloutStatus = Enabled"
    assert ended.status is RequestStatus.GUIDED


def test_a_destructive_steps_apex_runs_once_and_its_step_follows_it(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    sf_bot.services.walkthrough.steps.start_playbook(1, "cache-wedge")
    step = dict(scope="cache-wedge", step="clear-cache", switch=None, mechanism="apex", title="Clear the cache")
    request = approved(sf_bot, None, change={"apex": CLEAR_CACHE}, plan=["Tooling API executeAnonymous"], **step)
    sf_bot.services.execution.execute(request.id)
    ran = outcome(sf_bot, request)
    assert ran.status is RequestStatus.EXECUTED and ran.verification is Verification.NOT_CHECKED
    assert ran.observed == "nothing to read back for this Apex: check its effect by hand."
    assert ran.result == "the Apex compiled and ran." and fake_org.cache_keys == []
    assert fake_org.apex == [CLEAR_CACHE]
    settled = step_state(sf_bot, "cache-wedge", "clear-cache")
    assert settled.status is StepStatus.DONE and settled.result == "the Apex compiled and ran."
    assert settled.by == ALICE
    assert told(sf_bot) == []  # a destructive step is no kill switch: nobody is told


def test_a_destructive_step_that_fails_or_was_settled_by_hand_is_left_as_it_stands(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    sf_bot.services.walkthrough.steps.start_playbook(1, "cache-wedge")
    step = dict(scope="cache-wedge", step="clear-cache", switch=None, mechanism="apex", title="Clear the cache")
    request = approved(sf_bot, None, change={"apex": CLEAR_CACHE}, plan=["Tooling API executeAnonymous"], **step)
    fake_org.inject(r"executeAnonymous", "apex_exception")
    sf_bot.services.execution.execute(request.id)
    failed = step_state(sf_bot, "cache-wedge", "clear-cache")
    assert failed.status is StepStatus.FAILED and failed.error == outcome(sf_bot, request).error != ""
    elsewhere = approved(sf_bot, None, change={"apex": CLEAR_CACHE}, plan=["x"], **{**step, "step": "no-such-step"})
    sf_bot.services.execution.execute(elsewhere.id)  # a step the runbook no longer has: the request still runs
    assert outcome(sf_bot, elsewhere).status is RequestStatus.EXECUTED


def test_an_execution_finding_its_incident_resolved_is_cancelled_and_a_held_one_waits(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    held, request = approved(sf_bot), approved(sf_bot)
    assert (
        sf_bot.services.approvals.approvals.claim(
            held,
            sf_bot.clock.now(),
            60,
            *[
                Audit(
                    1,
                    AuditEntry(
                        at=sf_bot.clock.now(), kind=AuditKind.CANCELLED, actor=None, request=held.id, summary="x"
                    ),
                )
            ]
            * 2,
        )
        == "prepare"
    )
    with pytest.raises(RetryLater, match=f"^another worker holds {held.id}$"):
        sf_bot.services.execution.execute(held.id)
    incident = sf_bot.services.incidents.store.get(1)
    assert incident is not None
    sf_bot.services.incidents.store.update(incident, status=IncidentStatus.RESOLVED)
    sf_bot.services.execution.execute(request.id)
    assert outcome(sf_bot, request).status is RequestStatus.CANCELLED
    assert trail(sf_bot)[-1] == (AuditKind.CANCELLED, f"not sent, the incident was resolved: {request.title}")
    sf_bot.services.execution.execute("nosuchone0")  # a request gone: nothing to do
    assert fake_org.metadata_updates == 0


def test_a_send_cancelled_while_preparing_sends_nothing(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    declared(sf_bot)
    request = approved(sf_bot)
    approvals = sf_bot.services.approvals.approvals
    fake_org.after_metadata.append(lambda body: approvals.move(request, Move.CANCEL))  # resolved during the read
    sf_bot.services.execution.execute(request.id)
    assert outcome(sf_bot, request).status is RequestStatus.CANCELLED and fake_org.metadata_updates == 0


def test_a_change_without_an_answer_is_settled_by_reading_the_org_never_by_sending_again(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    request = approved(sf_bot)
    fake_org.inject(r"/Soap/m/", "dropped", skip=2)  # the update is lost on the way: the org never applies it
    with pytest.raises(RetryLater, match=f"^{request.id}: outcome unknown$"):
        sf_bot.services.execution.execute(request.id)
    unknown = outcome(sf_bot, request)
    assert unknown.status is RequestStatus.UNKNOWN
    assert unknown.observed == "outcome unknown: read back orgChatSurfacesEnabled__c = all"
    assert unknown.error.endswith("Reading the org back decides; it is not sent again.")
    assert trail(sf_bot)[-1][0] is AuditKind.UNKNOWN and trail(sf_bot)[-1][1].startswith("outcome unknown: ")
    sf_bot.clock.advance(seconds=30)
    sf_bot.services.execution.execute(request.id)
    failed = outcome(sf_bot, request)
    assert failed.status is RequestStatus.FAILED
    assert failed.error == (
        "not applied: the org shows the state before it (read back orgChatSurfacesEnabled__c = all); nothing was "
        "sent again"
    )
    assert fake_org.metadata_updates == 0 and len(fake_org.calls_to("Soap/m")) == 5  # four reads and the lost update


def test_the_step_that_asked_for_a_switch_says_what_was_read_back(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    declared(sf_bot)
    sf_bot.services.walkthrough.steps.start_playbook(1, "prompt-injection")
    asked = approved(sf_bot, scope="prompt-injection", step="revoke-suspect")
    sf_bot.services.execution.execute(asked.id)
    done = step_state(sf_bot, "prompt-injection", "revoke-suspect")
    assert done.status is StepStatus.DONE
    assert done.result == (
        "FM_Config.Default: orgChatSurfacesEnabled__c = none; FMConfig.refresh() ran. read back "
        "orgChatSurfacesEnabled__c = none"
    )
    fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] = "all"
    changed_by_a_trigger(fake_org)
    again = approved(sf_bot, scope="prompt-injection", step="org-wide-kill")
    sf_bot.services.execution.execute(again.id)
    failed = step_state(sf_bot, "prompt-injection", "org-wide-kill")
    assert failed.status is StepStatus.FAILED
    assert failed.error == "NOT VERIFIED: read back orgChatSurfacesEnabled__c = some"


def test_a_drills_step_is_done_as_a_dry_run_and_a_step_that_no_longer_changes_is_said(
    sf_bot: RunningBot, fake_org: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    declared(sf_bot, drill=True)
    sf_bot.services.walkthrough.steps.start_playbook(1, "prompt-injection")
    dry = approved(sf_bot, drill=True, scope="prompt-injection", step="revoke-suspect")
    sf_bot.services.execution.execute(dry.id)
    done = step_state(sf_bot, "prompt-injection", "revoke-suspect")
    assert done.status is StepStatus.DONE and done.result == "Dry run (drill): nothing was sent."
    not_started = approved(sf_bot, drill=True, scope="cache-wedge", step="clear-cache")
    with caplog.at_level("INFO", logger="bot.services.execution"):
        sf_bot.services.execution.execute(not_started.id)
    said = [r.getMessage() for r in caplog.records if r.name == "bot.services.execution"]
    assert said[-1] == "step cache-wedge/clear-cache of incident 1 no longer changes"
    assert outcome(sf_bot, not_started).status is RequestStatus.DRY_RUN  # the request runs all the same


def test_an_unanswered_change_the_org_shows_is_applied_and_an_unanswered_apex_is_left_to_a_person(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    request = approved(sf_bot)
    fake_org.inject(r"/Soap/m/", "timeout", skip=2)  # the update is applied after the bot stopped waiting
    with pytest.raises(RetryLater, match=f"^{request.id}: outcome unknown$"):
        sf_bot.services.execution.execute(request.id)
    sf_bot.fake.wait_until(lambda: fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] != "all")
    fake_org.inject(r"/Soap/m/", "503")  # the read back fails once: it is tried again, nothing is sent
    with pytest.raises(RetryLater):
        sf_bot.services.execution.execute(request.id)
    note = outcome(sf_bot, request).observed
    assert note.startswith("the change may or may not have been applied: reading the org back failed (")
    assert note.endswith("); retrying")
    sf_bot.services.execution.execute(request.id)
    applied = outcome(sf_bot, request)
    assert (applied.status, applied.error) == (RequestStatus.EXECUTED, "")
    assert applied.result == "applied: the org took it, though its answer never came; FMConfig.refresh() ran."
    assert trail(sf_bot)[1:] == [
        (
            AuditKind.UNKNOWN,
            "outcome unknown: Salesforce did not answer the update of FM_Config.Default within 2 seconds.",
        ),
        (
            AuditKind.EXECUTED,
            "executed orgChatSurfacesEnabled = none: applied: the org took it, though its answer never came",
        ),
        (AuditKind.VERIFIED, "verified: read back orgChatSurfacesEnabled__c = none"),
    ]
    assert sf_bot.services.audit.entries(1)[-2].details == {"prior": {"orgChatSurfacesEnabled__c": "all"}}
    assert told(sf_bot) == ["executed", "verified"]
    assert fake_org.metadata_updates == 1  # sent once: the org's answer decided
    sf_bot.services.walkthrough.steps.start_playbook(1, "cache-wedge")
    step = dict(scope="cache-wedge", step="clear-cache", switch=None, mechanism="apex", title="Clear the cache")
    apex = approved(sf_bot, None, change={"apex": CLEAR_CACHE}, plan=["Tooling API executeAnonymous"], **step)
    fake_org.inject(r"executeAnonymous", "dropped")
    sf_bot.services.execution.execute(apex.id)
    unknown = outcome(sf_bot, apex)
    assert (unknown.status, unknown.verification) == (RequestStatus.UNKNOWN, Verification.NOT_CHECKED)
    assert unknown.error == (
        "Salesforce did not answer the Apex within 2 seconds. A person checks it by hand; it is not sent again."
    )
    assert unknown.observed == (
        "Outcome unknown: Salesforce did not answer, and this Apex leaves nothing to read back. Check its effect by "
        "hand; it will not be sent again."
    )
    assert trail(sf_bot)[-1] == (
        AuditKind.UNKNOWN,
        "outcome unknown: Salesforce did not answer the Apex within 2 seconds.",
    )
    settled = step_state(sf_bot, "cache-wedge", "clear-cache")
    assert (settled.status, settled.error) == (StepStatus.FAILED, "outcome unknown: check by hand")
    sf_bot.services.execution.execute(apex.id)  # the job again: nothing is sent twice
    assert fake_org.apex == ["FMConfig.refresh();"]  # the switch's follow-up; the lost Apex never ran
    assert len(fake_org.calls_to("executeAnonymous")) == 2 and outcome(sf_bot, apex).status is RequestStatus.UNKNOWN
