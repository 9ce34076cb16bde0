"""The safety promises under faults between two writes and clicks by people who should not be clicking: approved
means it runs, once; a revert puts things back; nobody outside the incident changes it; the audit trail cannot
be emptied unseen. Each test drives the bot over signed HTTP, and faults are injected at the Redis boundary (a
proxy that fails chosen commands) or in the fake org, never by changing our code."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from rq.job import Job

from bot.adapters.redis_store.approvals import RevertAlreadyAsked
from bot.adapters.scheduler import Scheduler
from bot.core.approval import RequestStatus, Verification
from bot.core.audit import AuditKind
from bot.core.severity import Severity
from bot.core.timeline import EntryKind
from bot.render.modals import CHECKED_CALLBACK, DONE_BY_HAND_CALLBACK, RUN_CALLBACK
from bot.services.errors import UserError
from tests.conftest import RunningBot, delete_prefix, jwt_settings, new_prefix
from tests.driver import (
    ALICE,
    BOB,
    CAROL,
    approve,
    audit_kinds,
    button,
    buttons,
    click,
    decide,
    ephemeral_texts,
    incident_channel,
    open_phase,
    request,
    request_id,
    request_revert,
    state,
    text_of,
    unknown_refresh,
)
from tests.fakes.redis_proxy import RedisProxy
from tests.fakes.salesforce import FakeSalesforce
from tests.fakes.slack import Channel

STRANGER = "U0STRANGER"
GUEST = "U0GUEST01"
ORG_CHAT = "orgChatSurfacesEnabled__c"


@pytest.fixture
def proxied(redis_proxy: RedisProxy, bot_factory: Any, fake_org: FakeSalesforce) -> Iterator[RunningBot]:
    """A bot connected to the fake org, whose Redis is behind the proxy (healed before the bot is stopped)."""
    yield bot_factory(redis_url=redis_proxy.url, **jwt_settings(fake_org))
    redis_proxy.clear()


def told(bot: RunningBot, sentence: str) -> str:
    return str(bot.fake.wait_until(lambda: next((t for t in ephemeral_texts(bot) if sentence in t), None)))


def outcome(bot: RunningBot, approval: str) -> Any:
    return bot.services.approvals.get(request_id(approval))[1]


def org_chat(org: FakeSalesforce) -> Any:
    return org.metadata["FM_Config.Default"][ORG_CHAT]


# ----- 1. approved means it runs: the decision, its entry and its execution are never apart


def test_an_approval_whose_execution_could_not_be_queued_is_sent_by_the_sweep(
    proxied: RunningBot, redis_proxy: RedisProxy, fake_org: FakeSalesforce
) -> None:
    """Redis refuses every RQ command right after the decision (as a web process dying there would leave it): the
    approval and its audit entry are in, together; the approver is told it is approved, not "nothing changed";
    the worker's sweep queues the execution, which runs once."""
    bot = proxied
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    redis_proxy.fail(r"\brq:")  # the enqueue, the expiry's cancellation: every RQ command
    decide(bot, channel, card, approval, BOB)
    bot.fake.wait_until(lambda: "Approved by <@U0BOB0001>" in text_of(card))
    assert not any("nothing was changed" in t for t in ephemeral_texts(bot))
    assert outcome(bot, approval).status is RequestStatus.APPROVED
    assert audit_kinds(bot)[-1] is AuditKind.APPROVED
    redis_proxy.clear()
    assert bot.run_jobs() == 0 and fake_org.metadata_updates == 0  # nothing was queued

    assert bot.services.approvals.sweep() == [request_id(approval)]
    assert bot.services.approvals.sweep() == []  # queued now: the sweep leaves a pending execution alone
    assert bot.run_jobs() == 0
    assert fake_org.metadata_updates == 1 and org_chat(fake_org) == "none"
    bot.services.sweep()  # nothing approved and unsent is left: the sweep sends nothing twice
    assert bot.run_jobs() == 0 and fake_org.metadata_updates == 1
    assert audit_kinds(bot).count(AuditKind.APPROVED) == 1 and audit_kinds(bot).count(AuditKind.EXECUTED) == 1
    assert bot.services.audit.check(1)[1] == []


def test_a_decision_redis_refuses_changes_nothing_and_can_be_made_again(
    proxied: RunningBot, redis_proxy: RedisProxy, fake_org: FakeSalesforce
) -> None:
    bot = proxied
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    entries = len(audit_kinds(bot))
    redis_proxy.fail(r"^EVALSHA", times=1)  # the decision's script: approval, entry and index in one
    decide(bot, channel, card, approval, BOB)
    told(bot, "The bot cannot reach its database right now, so nothing was changed.")
    assert outcome(bot, approval).status is RequestStatus.PENDING and len(audit_kinds(bot)) == entries
    approve(bot, channel, card, approval)  # the same click again: it goes through
    assert bot.run_jobs() == 0 and fake_org.metadata_updates == 1


def test_a_fault_after_the_org_changed_never_sends_it_again(
    proxied: RunningBot, redis_proxy: RedisProxy, fake_org: FakeSalesforce
) -> None:
    """Redis fails the write that records "applied" right after the org took the change: the attempt fails with
    the request still SENDING; the retry reads the org back, finds it applied, and never sends it again."""
    bot = proxied
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    approve(bot, channel, card, approval)

    def then_redis_fails(body: bytes) -> None:
        if b"updateMetadata" in body:
            redis_proxy.fail(r"^EVALSHA", times=1)  # the next script: the move to APPLIED with its entry

    fake_org.after_metadata.append(then_redis_fails)
    bot.run_jobs()  # this attempt fails after the change was sent; RQ retries it later
    assert outcome(bot, approval).status is RequestStatus.SENDING
    assert AuditKind.EXECUTED not in audit_kinds(bot)
    bot.clock.advance(minutes=10)  # past the failed attempt's lease
    bot.run_due_jobs(at=time.time() + 600)  # the retry: settled by reading the org back
    done = outcome(bot, approval)
    assert done.status is RequestStatus.EXECUTED and done.verification is Verification.VERIFIED
    assert fake_org.metadata_updates == 1
    kinds = audit_kinds(bot)
    assert kinds.count(AuditKind.EXECUTED) == 1 and AuditKind.UNKNOWN in kinds
    assert bot.services.audit.check(1)[1] == []


# ----- 2, 3. a revert puts things back; a switch in effect is not thrown twice


def test_a_refused_revert_request_leaves_the_switch_revertible(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(**jwt_settings(fake_org), approvers_usergroup="S0APPROVE")
    bot.fake.add_usergroup("S0APPROVE", [BOB])
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    approve(bot, channel, card, approval)
    assert bot.run_jobs() == 0 and org_chat(fake_org) == "none"
    bot.fake.add_usergroup("S0APPROVE", [])  # between rotations: nobody may approve now
    revert = next(e for e in buttons(card) if e["action_id"] == "switch.revert")
    bot.slack.click("switch.revert", revert["value"], user=CAROL, channel_id=channel.id, message_ts=card["ts"])
    view = bot.fake.wait_until(lambda: bot.fake.open_views("switch.revert"))[-1]
    bot.slack.submit(view, {"reason": "vendor back"}, user=CAROL)
    told(bot, "Nobody can approve this request")
    assert outcome(bot, approval).reverted_by is None and "switch.revert" in text_of(card)

    bot.fake.add_usergroup("S0APPROVE", [ALICE])
    revert_id, revert_card = request_revert(bot, channel, card, "vendor back")  # asked by Bob
    decide(bot, channel, revert_card, revert_id, ALICE, "switch.deny")  # denied: it changed nothing
    bot.fake.wait_until(lambda: "Denied by" in text_of(revert_card))
    assert outcome(bot, approval).reverted_by is None
    bot.fake.wait_until(lambda: "switch.revert" in text_of(card))  # offered again
    again_id, again_card = request_revert(bot, channel, card, "vendor back, really")
    decide(bot, channel, again_card, again_id, ALICE)
    bot.fake.wait_until(lambda: "Approved by" in text_of(again_card))
    assert bot.run_jobs() == 0 and org_chat(fake_org) == "all"


def test_two_reverts_asked_a_moment_apart_make_one_request(sf_bot: RunningBot) -> None:
    """Both people opened the revert form while the switch was revertible; the second submission reaches the
    store after the first revert exists: it writes nothing, not the request, not its entry, not the mark."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    button_value, _ = request_revert(sf_bot, channel, card, "vendor back")
    first = request_id(button_value)
    service = sf_bot.services.approvals
    revert, _ = service.get(first)
    second = revert.model_copy(update={"id": "a" * 32, "requester": CAROL, "reason": "vendor back too"})
    trail = len(sf_bot.services.audit.entries(1))
    entry = service.audit.entry(second, AuditKind.REVERT_REQUESTED, CAROL, "revert requested: second")
    with pytest.raises(RevertAlreadyAsked) as asked:
        service.approvals.create(second, frozenset({ALICE}), entry)
    assert str(asked.value) == first
    assert service.approvals.get(second.id) is None and second.id not in service.approvals.of_incident(1)
    assert len(sf_bot.services.audit.entries(1)) == trail and outcome(sf_bot, approval).reverted_by == first


def test_a_switch_in_effect_is_not_requested_again_and_the_org_is_read_first(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    sf_bot.slack.command("killswitch org-chat-off", channel_id=channel.id, user=CAROL)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views("switch.request"))[-1]
    sf_bot.slack.submit(view, {"reason": "again"}, user=CAROL)
    said = told(sf_bot, "is already in effect in INC-1")
    switch = sf_bot.services.runbook.switches.get("org-chat-off")
    assert switch is not None
    title = switch.title
    assert said == (
        f"“{title}” is already in effect in INC-1: request `{request_id(approval)}` by <@U0ALICE01> did it. Use the "
        "Revert button on its card to undo it; nothing was requested."
    )
    assert len(sf_bot.services.approvals.approvals.of_incident(1)) == 1

    # DML off, already off in the org (set by hand): not requested
    fake_org.metadata["FM_Config.Default"]["orgChatDmlEnabled__c"] = False
    sf_bot.slack.command("killswitch org-chat-dml-off", channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views("switch.request"))[-1]
    sf_bot.slack.submit(view, {"reason": "dml"})
    told(sf_bot, "The org already shows this change (FM_Config.Default: orgChatDmlEnabled__c = false)")


def test_a_request_checks_its_own_target_whatever_its_form_checked(sf_bot: RunningBot) -> None:
    """The form shows a bad value under its field before anything is asked; the use case checks it again itself
    (a forged submission, a setting changed between the two), and says the same sentence."""
    incident_channel(sf_bot)
    errors = sf_bot.services.approvals.target_errors("user-lockout", {"user_id": "not-an-id"})
    assert list(errors) == ["user_id"]
    with pytest.raises(UserError) as refused:
        sf_bot.services.approvals.request(1, ALICE, "forged", "user-lockout", None, None, {"user_id": "not-an-id"})
    assert str(refused.value) == errors["user_id"]
    for scope, step in ((None, None), ("cache-wedge", None), (None, "clear-cache"), ("first-five", "vendor-status")):
        with pytest.raises(UserError, match=r"^That request names no kill switch and no destructive step\.$"):
            sf_bot.services.approvals.request(1, ALICE, "forged", None, scope, step, {})
    assert sf_bot.services.approvals.approvals.of_incident(1) == []


def test_a_request_made_while_the_org_cannot_be_read_is_read_again_before_sending(
    sf_bot: RunningBot, fake_org: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    channel = incident_channel(sf_bot)
    fake_org.inject(r"/Soap/m/", "503")  # the read before the request fails: the request is made all the same
    with caplog.at_level(logging.INFO, logger="bot.services.approvals"):
        approval, card = request(sf_bot, channel, "org-chat-off")
    said = [r.getMessage() for r in caplog.records if r.name == "bot.services.approvals"]
    assert said == ["could not read the org before a request: SalesforceNoAnswer"]
    fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] = "none"  # meanwhile, set by hand
    approve(sf_bot, channel, card, approval)
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata_updates == 0 and outcome(sf_bot, approval).status is RequestStatus.UNCHANGED


def test_a_change_already_in_the_org_when_it_would_be_sent_is_not_sent(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """Requested while the org showed the old value; someone changes it by hand before the approval runs: the
    execution reads the org, sends nothing and says so, and offers no revert (it would restore nothing)."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "tool-calling-off")
    fake_org.metadata["FM_Config.Default"]["orgChatToolCallingEnabled__c"] = False
    approve(sf_bot, channel, card, approval)
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata_updates == 0 and fake_org.refreshes == 0
    assert outcome(sf_bot, approval).status is RequestStatus.UNCHANGED
    sf_bot.fake.wait_until(lambda: "already in place, nothing was sent" in text_of(card))
    assert "switch.revert" not in text_of(card)
    assert AuditKind.UNCHANGED in audit_kinds(sf_bot)


def test_a_lost_send_mark_never_sends_twice(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    """Redis loses its last second (AOF everysec, a host crash) after the change was sent: the request is back to
    approved with no prior value. The retry reads the org before sending: it shows the change, nothing is sent."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    assert fake_org.metadata_updates == 1
    key = f"{sf_bot.services.settings.key_prefix}:approval:{request_id(approval)}"
    raw = sf_bot.services.redis.data
    raw.hset(key, mapping={"status": "approved", "outcome": json.dumps({"status": "pending"})})
    sf_bot.services.approvals.send_on(sf_bot.services.approvals.get(request_id(approval))[0])
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata_updates == 1 and outcome(sf_bot, approval).status is RequestStatus.UNCHANGED


# ----- 9, 10, 11. who may click


def responders_and_a_guest(bot_factory: Any, fake_org: FakeSalesforce) -> tuple[RunningBot, Channel]:
    """A bot whose responders group is Alice, Bob and a guest; its incident channel holds Carol (no responder) and
    the guest too."""
    bot = bot_factory(**jwt_settings(fake_org), responders_usergroup="S0RESPOND")
    bot.fake.add_usergroup("S0RESPOND", [ALICE, BOB, GUEST])
    bot.fake.guests.add(GUEST)
    channel = incident_channel(bot)
    channel.members.add(GUEST)
    return bot, channel


def test_approval_follows_the_responders_rule_and_guests_never_approve(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot, channel = responders_and_a_guest(bot_factory, fake_org)
    channel.members.add(STRANGER)
    approval, card = request(bot, channel, "org-chat-off")
    decide(bot, channel, card, approval, CAROL)  # in the channel, not a responder
    told(bot, "Only members of the responders group may approve this request.")
    decide(bot, channel, card, approval, GUEST)
    told(bot, "Guests of the workspace cannot approve changes to production.")
    assert outcome(bot, approval).status is RequestStatus.PENDING
    assert [k for k in audit_kinds(bot) if k is AuditKind.REFUSED] == [AuditKind.REFUSED] * 2
    bot.slack.command("killswitch org-chat-dml-off", channel_id=channel.id, user=GUEST)
    view = bot.fake.wait_until(lambda: bot.fake.open_views("switch.request"))[-1]
    bot.slack.submit(view, {"reason": "guest"}, user=GUEST)
    told(bot, "Guests of the workspace may not request a kill switch or a destructive step.")
    approve(bot, channel, card, approval)
    assert bot.run_jobs() == 0 and fake_org.metadata_updates == 1


def test_denying_needs_the_same_authority_but_the_requester_may_always_withdraw(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot, channel = responders_and_a_guest(bot_factory, fake_org)
    approval, card = request(bot, channel, "org-chat-off")
    decide(bot, channel, card, approval, CAROL, action="switch.deny")  # in the channel, not a responder
    told(bot, "Only members of the responders group may approve this request.")
    decide(bot, channel, card, approval, GUEST, action="switch.deny")
    told(bot, "Guests of the workspace cannot approve changes to production.")
    assert outcome(bot, approval).status is RequestStatus.PENDING
    channel.members.discard(ALICE)  # the requester leaves the channel; a stranger's click has it read again
    decide(bot, channel, card, approval, STRANGER, action="switch.deny")
    told(bot, "You are not one of the approvers for this request.")
    decide(bot, channel, card, approval, ALICE, action="switch.deny")  # withdrawing one's own request
    bot.fake.wait_until(lambda: outcome(bot, approval).status is RequestStatus.DENIED)
    assert outcome(bot, approval).decided_by == ALICE
    assert [k for k in audit_kinds(bot) if k is AuditKind.REFUSED] == [AuditKind.REFUSED] * 3


def test_someone_outside_the_incident_changes_nothing(sf_bot: RunningBot) -> None:
    channel = incident_channel(sf_bot)
    checklist = next(m for m in channel.messages.values() if "First five minutes" in m.get("text", ""))
    click(sf_bot, channel, checklist, "step.done", "vendor-status", user=STRANGER)
    told(sf_bot, "Only members of INC-1's channel may change this incident; join it first.")
    picker = next(m for m in channel.messages.values() if "Pick the playbook" in json.dumps(m.get("blocks", [])))
    sf_bot.slack.click(
        "playbook.pick",
        '{"incident":1,"playbook":"cache-wedge"}',
        user=STRANGER,
        channel_id=channel.id,
        message_ts=picker["ts"],
    )
    sf_bot.slack.command("note from outside", user=STRANGER, channel_id=channel.id)
    sf_bot.slack.command("probe", user=STRANGER, channel_id=channel.id)
    sf_bot.fake.wait_until(lambda: sum("Only members of INC-1's channel" in t for t in ephemeral_texts(sf_bot)) == 4)
    assert state(sf_bot, "first-five", "vendor-status").status.value == "pending"
    assert sf_bot.services.walkthrough.steps.snapshot(1).playbooks == []
    assert not any(e.actor == STRANGER for e in sf_bot.services.timeline.entries(1))


def test_done_on_a_destructive_step_is_done_by_hand_with_a_reason_and_audited(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    recover = open_phase(sf_bot, channel, "cache-wedge", "recover")
    done = button(recover, "step.done", "clear-cache")
    assert done["text"]["text"] == "Done by hand…"
    click(sf_bot, channel, recover, "step.done", "clear-cache")
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(DONE_BY_HAND_CALLBACK))[-1]
    assert sf_bot.slack.submit(view, {"reason": ""}).json()["errors"] == {
        "reason": "Say why, in at most 500 characters."
    }
    sf_bot.slack.submit(view, {"reason": "cleared in the Developer Console, Carol watching"})
    settled = sf_bot.fake.wait_until(
        lambda: (
            state(sf_bot, "cache-wedge", "clear-cache").status.value == "done"
            and state(sf_bot, "cache-wedge", "clear-cache")
        )
    )
    assert settled.reason == "done by hand: cleared in the Developer Console, Carol watching"
    assert fake_org.cache_keys and fake_org.apex == []  # the bot sent nothing
    entry = sf_bot.services.audit.entries(1)[-1]
    assert (entry.kind, entry.actor, entry.request) == (AuditKind.DONE_BY_HAND, ALICE, "step:cache-wedge/clear-cache")
    sf_bot.fake.wait_until(
        lambda: "(done by hand: cleared in the Developer Console, Carol watching)" in text_of(recover)
    )


def test_one_probe_run_per_incident_at_a_time(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    fake_org.inject(r"/query", "slow", times=20)
    queries = len(fake_org.calls_to("/query"))
    sf_bot.slack.command("probe", channel_id=channel.id)
    sf_bot.slack.command("probe", channel_id=channel.id, user=BOB)
    told(sf_bot, "The probes of INC-1 are already running; the picker shows what they find.")
    sf_bot.wait_quiet()
    assert len(fake_org.calls_to("/query")) - queries == 7  # one run: seven probes
    sf_bot.slack.command("probe", channel_id=channel.id, user=BOB)  # once it ended, another may run
    told(sf_bot, ":mag: Probing the org")


# ----- 7. the severity suggestion is answered once, and is stale once the severity changed


def test_the_severity_suggestion_is_answered_once_and_goes_stale(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    from tests.fakes.salesforce import seed_rate_limit_storm

    fake_org.seed(seed_rate_limit_storm())
    channel = incident_channel(sf_bot, "declare sev3 Enrichment pipelines failing")
    suggestion = sf_bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if "Measured:" in m.get("text", "")), None), timeout=20
    )
    keep = button(suggestion, "severity.answer:keep")
    raise_ = button(suggestion, "severity.answer:take")
    sf_bot.slack.command("sev 1", channel_id=channel.id)
    sf_bot.fake.wait_until(lambda: sf_bot.services.incidents.get(1).severity is Severity.SEV1)
    sf_bot.slack.click(raise_["action_id"], raise_["value"], channel_id=channel.id, message_ts=suggestion["ts"])
    told(sf_bot, "This suggestion was about SEV-3; INC-1 is SEV-1 now, so it no longer applies.")
    assert sf_bot.services.incidents.get(1).severity is Severity.SEV1  # never lowered by an old button
    sf_bot.fake.wait_until(lambda: "Stale: the severity changed to SEV-1 since" in text_of(suggestion))

    sf_bot.slack.command("sev 3", channel_id=channel.id)
    sf_bot.fake.wait_until(lambda: sf_bot.services.incidents.get(1).severity is Severity.SEV3)
    sf_bot.slack.click(keep["action_id"], keep["value"], channel_id=channel.id, message_ts=suggestion["ts"])
    sf_bot.fake.wait_until(lambda: "Kept SEV-3 by <@U0ALICE01>" in text_of(suggestion))
    sf_bot.slack.click(
        raise_["action_id"], raise_["value"], user=BOB, channel_id=channel.id, message_ts=suggestion["ts"]
    )
    told(sf_bot, "<@U0ALICE01> already answered this suggestion.")
    assert sf_bot.services.incidents.get(1).severity is Severity.SEV3
    answers = [e.text for e in sf_bot.services.timeline.entries(1) if e.kind is EntryKind.SEVERITY]
    assert answers.count("Kept SEV-3 (the measurement suggested SEV-2)") == 1


# ----- 8. a change without an answer is outcome unknown, never Failed-with-Retry


def test_a_change_without_an_answer_is_run_again_only_after_a_person_checked(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    contain = unknown_refresh(sf_bot, channel, fake_org)
    sf_bot.fake.wait_until(lambda: len(fake_org.apex) == 1)  # the org ran it, late
    sf_bot.fake.wait_until(lambda: "Outcome unknown at 14:00" in text_of(contain))
    shown = [e["text"]["text"] for e in buttons(contain) if "refresh-config" in e["value"]]
    assert shown == ["It ran: Done", "Checked: it did not run…"]  # no Retry
    run_value = json.dumps({"incident": 1, "scope": "cache-wedge", "step": "refresh-config"})
    sf_bot.slack.click("step.run", run_value, channel_id=channel.id, message_ts=contain["ts"])  # an old Retry
    told(sf_bot, "“Force a config refresh” was sent without an answer, so it may have run: check the org")
    assert len(fake_org.apex) == 1 and len(sf_bot.fake.open_views(RUN_CALLBACK)) == 1

    click(sf_bot, channel, contain, "step.checked", "refresh-config", user=BOB)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(CHECKED_CALLBACK))[-1]
    sf_bot.slack.submit(view, {"reason": "FM_Config shows the old values: the refresh did not run"}, user=BOB)
    sf_bot.fake.wait_until(lambda: state(sf_bot, "cache-wedge", "refresh-config").status.value == "pending")
    entry = sf_bot.services.audit.entries(1)[-1]
    assert (entry.kind, entry.actor) == (AuditKind.CHECKED, BOB)
    assert "FM_Config shows the old values" in entry.summary
    sf_bot.fake.wait_until(lambda: "Checked by <@U0BOB0001>" in text_of(contain))
    click(sf_bot, channel, contain, "step.run", "refresh-config")  # now it may run again
    view = sf_bot.fake.wait_until(
        lambda: len(sf_bot.fake.open_views(RUN_CALLBACK)) == 2 and sf_bot.fake.open_views(RUN_CALLBACK)
    )[-1]
    sf_bot.slack.submit(view, {})
    sf_bot.fake.wait_until(lambda: state(sf_bot, "cache-wedge", "refresh-config").status.value == "done")
    assert len(fake_org.apex) == 2


# ----- 12. a switch left on after resolve


def test_resolving_lists_what_is_still_in_effect_and_a_revert_stays_possible(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot, "declare sev3 Org Chat leaking")
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    sf_bot.slack.command("resolve", channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views("incident.resolve"))[-1]
    sf_bot.slack.submit(view, {})
    notice = sf_bot.fake.wait_until(
        lambda: next((m for m in channel.messages.values() if "still in effect" in m.get("text", "")), None)
    )
    assert "orgChatSurfacesEnabled = none (Org Chat completely off)" in text_of(notice)
    assert "Revert… on" in text_of(notice)
    assert f"/p{card['ts'].replace('.', '')}|its card>" in text_of(notice)
    entries = [e.text for e in sf_bot.services.timeline.entries(1)]
    held = f"orgChatSurfacesEnabled = none (Org Chat completely off) ({request_id(approval)})"
    assert f"Still in effect at resolve: {held}" in entries

    revert_id, revert_card = request_revert(sf_bot, channel, card, "all clear")
    decide(sf_bot, channel, revert_card, revert_id, BOB)  # the requester cannot approve it, even now
    told(sf_bot, "You made this request: a second person has to approve it.")
    decide(sf_bot, channel, revert_card, revert_id, CAROL)
    sf_bot.fake.wait_until(lambda: "Approved by <@U0CAROL01>" in text_of(revert_card))
    assert sf_bot.run_jobs() == 0
    assert org_chat(fake_org) == "all"
    sf_bot.fake.wait_until(lambda: "*Verified*: read back orgChatSurfacesEnabled__c = all" in text_of(revert_card))


def executed_twice(bot: RunningBot) -> None:
    channel = incident_channel(bot)
    for key in ("org-chat-off", "tool-calling-off"):
        approval, card = request(bot, channel, key)
        approve(bot, channel, card, approval)
        bot.run_jobs()
        bot.fake.wait_until(lambda: "*Verified*" in text_of(card))  # noqa: B023


def waits(proxy: RedisProxy) -> list[str]:
    return [c for c in proxy.commands if c.upper().startswith("WAITAOF")]


def test_a_sent_mark_waits_for_the_disk_where_redis_can_say(
    proxied: RunningBot, redis_proxy: RedisProxy, fake_org: FakeSalesforce
) -> None:
    """WAITAOF (Redis 7.2+): each mark that a change was sent is on the local disk before the change goes out."""
    redis_proxy.answer(r"^WAITAOF\b", b"*2\r\n:1\r\n:0\r\n")  # fsynced locally, no replica: as Redis 7.2 answers
    executed_twice(proxied)
    assert waits(redis_proxy) == ["WAITAOF 1 0 1000", "WAITAOF 1 0 1000"]


def test_a_redis_without_waitaof_is_asked_once(
    proxied: RunningBot, redis_proxy: RedisProxy, fake_org: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    """The suite's Redis (6.2) does not know WAITAOF: asked once, then the append-only file's policy is relied on."""
    with caplog.at_level(logging.INFO, logger="bot.adapters.redis_store.approvals"):
        executed_twice(proxied)
    assert waits(redis_proxy) == ["WAITAOF 1 0 1000"]
    said = [r.getMessage() for r in caplog.records if r.name == "bot.adapters.redis_store.approvals"]
    assert len(said) == 1 and said[0].startswith("WAITAOF is not available (")
    assert said[0].endswith("): relying on the append-only file's fsync policy") and "WAITAOF" in said[0][26:]


def test_a_job_cancelled_while_it_is_asked_about_is_not_pending(redis_url: str) -> None:
    """The sweep asks whether an execution is queued while a resolve may be cancelling jobs: a job deleted
    between its fetch and the read of its status is not pending (RQ raised there, failing the sweep)."""
    client = redis.Redis.from_url(redis_url)
    prefix = new_prefix()
    scheduler = Scheduler(client, prefix)
    try:
        job_id = scheduler.job_id("expire", "r1")
        scheduler.schedule(datetime.now(UTC) + timedelta(hours=1), "expire_request", "r1", job_id=job_id)
        assert scheduler.pending(job_id)
        client.hdel(f"rq:job:{job_id}", "status")  # what a cancel leaves between the fetch and the status read
        assert not scheduler.pending(job_id)
        scheduler.cancel(job_id)  # a second canceller leaves it to the first
        assert not scheduler.pending(job_id)
        again = scheduler.job_id("expire", "r2")
        scheduler.schedule(datetime.now(UTC) + timedelta(hours=1), "expire_request", "r2", job_id=again)
        Job.fetch(again, connection=client).cancel()  # a canceller that stopped before deleting it
        scheduler.cancel(again)
        assert not Job.exists(again, connection=client)
    finally:
        delete_prefix(client, prefix)
        client.close()


def test_resolving_cancels_every_open_request_and_its_expiry_whatever_came_before_it(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """Oldest first: the incident's first request ran (its move to cancelled is refused) and a revert of it is
    pending (it goes on); the request after them is still cancelled, by the resolver, with its expiry job."""
    channel = incident_channel(sf_bot, "declare sev3 Org Chat leaking")
    executed, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, executed)
    sf_bot.run_jobs()
    sf_bot.clock.advance(minutes=1)
    revert, _ = request_revert(sf_bot, channel, card, "scope is known now")
    sf_bot.clock.advance(minutes=1)
    pending, _ = request(sf_bot, channel, "tool-calling-off")
    scheduler = sf_bot.services.scheduler
    assert scheduler.pending(scheduler.job_id("expire", request_id(pending)))
    sf_bot.slack.command("resolve", user=CAROL, channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views("incident.resolve"))[-1]
    sf_bot.slack.submit(view, {}, user=CAROL)
    sf_bot.fake.wait_until(lambda: outcome(sf_bot, pending).status is RequestStatus.CANCELLED)
    sf_bot.wait_quiet()  # the resolve's work after the ack, its expiry's cancellation included
    assert outcome(sf_bot, executed).status is not RequestStatus.CANCELLED
    assert outcome(sf_bot, revert).status is RequestStatus.PENDING  # a switch left on must still come off
    assert not scheduler.pending(scheduler.job_id("expire", request_id(pending)))
    cancelled = [e for e in sf_bot.services.approvals.audit.entries(1) if e.kind is AuditKind.CANCELLED]
    assert [(e.request, e.actor) for e in cancelled] == [(request_id(pending), CAROL)]


def test_a_request_expires_at_its_deadline_exactly_and_a_missing_one_is_left_alone(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    approval, _ = request(sf_bot, channel, "tool-calling-off")
    service = sf_bot.services.approvals
    sf_bot.clock.advance(minutes=14, seconds=59)
    assert service.expire(request_id(approval)) is None  # a second early
    sf_bot.clock.advance(seconds=1)
    assert service.expire(request_id(approval)) is not None  # 14:15:00, its deadline
    assert outcome(sf_bot, approval).status is RequestStatus.EXPIRED
    assert service.expire("0123456789") is None  # gone, or never was: nothing to expire
