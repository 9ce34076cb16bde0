"""Executions that hold against a real org and a failing Slack: typed values both ways, a change that is applied
but answered late, a read-back that fails, resolving before anything is sent, and Slack failing meanwhile.

Each goes through signed HTTP (the clicks) and the fake org over HTTPS, which answers as a real one does.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.core.approval import RequestStatus, Verification
from bot.core.audit import AuditKind
from bot.services.execution import RetryLater
from tests.conftest import RunningBot, spawn
from tests.driver import (
    CAROL,
    approve,
    audit_kinds,
    decide,
    incident_channel,
    kill_session,
    logged_events,
    request,
    request_id,
    request_revert,
    text_of,
    worker_env,
)
from tests.fakes.salesforce import FakeSalesforce


def outcome(bot: RunningBot, approval: str) -> Any:
    return bot.services.approvals.get(request_id(approval))[1]


def test_a_checkbox_switch_is_verified_and_reverted_with_its_type(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    """The org answers `<value xsi:type="xsd:boolean">`: compared as a boolean, the read-back verifies, the prior
    value is kept as a boolean, and the revert sends it back typed (a real org refuses the text "True")."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-dml-off")
    assert "orgChatDmlEnabled__c = false" in text_of(card)
    approve(sf_bot, channel, card, approval)
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata["FM_Config.Default"]["orgChatDmlEnabled__c"] is False
    done = outcome(sf_bot, approval)
    assert done.verification is Verification.VERIFIED and done.prior == {"orgChatDmlEnabled__c": True}
    assert "*Verified*: read back orgChatDmlEnabled__c = false" in text_of(card)
    # the other fields went back with their own types: the number is still a number, the empty field empty
    assert fake_org.metadata["FM_Config.Default"]["pipelineMaxIterations__c"] == 25.0
    assert fake_org.metadata["FM_Config.Default"]["orgChatNotice__c"] is None

    revert_id, revert_card = request_revert(sf_bot, channel, card, "DML is safe again")
    decide(sf_bot, channel, revert_card, revert_id, CAROL)
    sf_bot.fake.wait_until(lambda: "Approved by" in text_of(revert_card))
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata["FM_Config.Default"]["orgChatDmlEnabled__c"] is True
    assert "*Verified*: read back orgChatDmlEnabled__c = true" in text_of(revert_card)


def test_a_change_applied_but_answered_late_is_settled_by_reading_back(
    sf_bot: RunningBot, fake_org: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    """The org takes the update and answers after the bot's timeout: the request is not failed, not sent again;
    reading the org back shows it applied, the refresh then runs, and the card offers the revert. The audit keeps
    the prior value for the revert, and the subscribers hear it executed, then verified."""
    caplog.set_level("INFO", logger="bot.events")
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    fake_org.inject(r"/Soap/m/", "slow_answer", skip=2)  # the prepare read, the read inside the update, then it
    approve(sf_bot, channel, card, approval)
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata_updates == 1 and fake_org.refreshes == 1
    done = outcome(sf_bot, approval)
    assert done.status is RequestStatus.EXECUTED and done.verification is Verification.VERIFIED
    assert "applied: the org took it, though its answer never came; FMConfig.refresh() ran." in text_of(card)
    assert "switch.revert" in text_of(card)
    assert AuditKind.UNKNOWN in audit_kinds(sf_bot) and AuditKind.FAILED not in audit_kinds(sf_bot)
    executed = next(e for e in sf_bot.services.approvals.audit.entries(1) if e.kind is AuditKind.EXECUTED)
    assert executed.details == {"prior": {"orgChatSurfacesEnabled__c": "all"}} and done.error == ""
    changes = [event["change"] for event in logged_events(caplog) if event["kind"] == "switch changed"]
    assert changes == ["executed", "verified"]


def test_no_answer_and_not_applied_fails_without_sending_again(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "tool-calling-off")
    fake_org.inject(r"/Soap/m/", "dropped", skip=2)  # the update is lost: no answer, and the org never applies it
    sf_bot.clock.advance(minutes=2)  # approved a while after the request: the wait runs from the sending
    approve(sf_bot, channel, card, approval)
    assert sf_bot.run_jobs() == 0
    assert outcome(sf_bot, approval).status is RequestStatus.UNKNOWN  # too soon to say "not applied"
    assert "Outcome unknown" in text_of(card)
    sf_bot.clock.advance(seconds=30)
    sf_bot.run_due_jobs(at=time.time() + 600)  # RQ's retry reads the org again, and sends nothing
    assert fake_org.metadata_updates == 0 and fake_org.refreshes == 0
    failed = outcome(sf_bot, approval)
    assert failed.status is RequestStatus.FAILED
    assert "not applied: the org shows the state before it" in text_of(card)
    assert "nothing was sent again" in text_of(card)


def test_a_change_the_org_applies_after_the_timeout_is_not_called_failed(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """The answer never comes in time, the first read-back still shows the old value, and the org applies the
    change a moment later: the bot does not conclude too soon, and ends verified, having sent it once."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    fake_org.inject(r"/Soap/m/", "timeout", skip=2)  # answered 3 s late (after the 2 s timeout), applied then
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    sf_bot.fake.wait_until(lambda: fake_org.metadata_updates == 1)
    sf_bot.clock.advance(seconds=30)
    sf_bot.run_due_jobs(at=time.time() + 600)
    done = outcome(sf_bot, approval)
    assert done.status is RequestStatus.EXECUTED and done.verification is Verification.VERIFIED
    assert fake_org.metadata_updates == 1 and fake_org.refreshes == 1


def test_an_unanswered_change_whose_read_back_fails_says_it_may_have_applied(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    fake_org.inject(r"/Soap/m/", "timeout", skip=2)  # the update's answer comes after the timeout
    fake_org.inject(r"/Soap/m/", "503")  # and the read that would settle it fails
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    unknown = outcome(sf_bot, approval)
    assert unknown.status is RequestStatus.UNKNOWN
    assert unknown.observed.startswith("the change may or may not have been applied: reading the org back failed (")
    assert unknown.observed.endswith("); retrying")
    sf_bot.fake.wait_until(lambda: fake_org.metadata_updates == 1)  # sent once; never again


def test_a_failed_read_back_keeps_the_prior_value_and_the_revert(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    fake_org.inject(r"/Soap/m/", "503", skip=3)  # prepare read, update (read + write): the read-back fails
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()  # the attempt ends on the failed read-back and is retried later
    applied = outcome(sf_bot, approval)
    assert applied.status is RequestStatus.EXECUTED and applied.verification is Verification.PENDING
    assert applied.prior == {"orgChatSurfacesEnabled__c": "all"}
    assert "applied, not yet verified" in text_of(card) and "switch.revert" in text_of(card)
    assert AuditKind.FAILED not in audit_kinds(sf_bot)
    sf_bot.run_due_jobs(at=time.time() + 600)  # RQ's retry, minutes later: it reads back again, sends nothing
    assert fake_org.metadata_updates == 1
    assert outcome(sf_bot, approval).verification is Verification.VERIFIED
    assert "*Verified*: read back orgChatSurfacesEnabled__c = none" in text_of(card)


def test_resolving_cancels_what_was_approved_but_not_sent(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot, "declare sev3 Slow dashboards")
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)  # approved; the worker has not run it yet
    sf_bot.slack.command("resolve", channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views("incident.resolve"))[-1]
    sf_bot.slack.submit(view, {})
    sf_bot.fake.wait_until(lambda: "*Cancelled*: the incident was resolved before it was sent." in text_of(card))
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata_updates == 0 and fake_org.refreshes == 0
    assert outcome(sf_bot, approval).status is RequestStatus.CANCELLED
    assert AuditKind.CANCELLED in audit_kinds(sf_bot)


def test_an_execution_refuses_once_the_incident_is_resolved(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    """Even if a request escaped the cancellation (resolved in between), its execution finds the incident closed."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    incident = sf_bot.services.incidents.in_channel(channel.id)
    assert incident is not None
    sf_bot.services.incidents.store.update(incident, status="resolved")  # resolved without the use case
    sf_bot.services.execution.execute(request_id(approval))  # the worker's attempt returns, having cancelled it
    assert outcome(sf_bot, approval).status is RequestStatus.CANCELLED
    sf_bot.services.execution.execute(request_id(approval))  # and an attempt after that finds nothing to do
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata_updates == 0
    assert outcome(sf_bot, approval).status is RequestStatus.CANCELLED
    title = sf_bot.services.approvals.get(request_id(approval))[0].title
    cancelled = [e for e in sf_bot.services.approvals.audit.entries(1) if e.kind is AuditKind.CANCELLED]
    assert [(e.summary, e.actor) for e in cancelled] == [(f"not sent, the incident was resolved: {title}", None)]
    assert sf_bot.services.audit.check(1)[1] == []  # audited like every other move


def test_a_second_worker_waits_for_the_one_holding_the_request(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    """Another worker holds the request's lease (it is preparing it): this one asks to be run later, sends nothing,
    and leaves the other's lease alone."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    services = sf_bot.services
    held, _ = services.approvals.get(request_id(approval))
    audit = services.approvals.audit

    def claim() -> str:
        cancelled = audit.entry(held, AuditKind.CANCELLED, None, "not sent")
        lost = audit.entry(held, AuditKind.UNKNOWN, None, "lost")
        return services.approvals.approvals.claim(held, sf_bot.clock.now(), 60, cancelled, lost)

    assert claim() == "prepare"  # the other worker
    with pytest.raises(RetryLater, match="another worker holds"):
        services.execution.execute(held.id)
    assert claim() == "busy"  # its lease is still held
    assert fake_org.metadata_updates == 0


def test_slack_failing_neither_holds_back_nor_repeats_an_execution(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """Every card and message update fails (Slack 5xx beyond its retries): the change is still sent, once, and
    verified; the cards catch up on their own job when Slack is back."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    sf_bot.fake.inject("chat.update", status=503, times=1000)
    sf_bot.run_jobs()
    assert fake_org.metadata_updates == 1 and fake_org.refreshes == 1
    assert outcome(sf_bot, approval).verification is Verification.VERIFIED
    assert "Executed" not in text_of(card)  # Slack refused every update so far
    sf_bot.fake.faults.clear()
    scheduler = sf_bot.services.scheduler
    scheduler.enqueue("show_request", request_id(approval), job_id=scheduler.job_id("show-again"))
    sf_bot.run_jobs()
    assert "*Verified*: read back orgChatSurfacesEnabled__c = none" in text_of(card)
    assert fake_org.metadata_updates == 1  # showing it again never runs it again


def test_an_approved_change_reaches_the_org_while_slack_throttles(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    """A real worker, and Slack answering every update with 429 and Retry-After 30: the approved change is in the
    org long before Slack would let the card change (the executions process waits for nothing Slack does)."""
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    scheduler = sf_bot.services.scheduler
    scheduler.enqueue("show_request", request_id(approval), job_id=scheduler.job_id("show-first"))  # it waits
    approve(sf_bot, channel, card, approval)
    sf_bot.wait_quiet()  # the 429s are for the worker's jobs: nothing of the web process waits them out
    sf_bot.fake.inject("chat.update", status=429, retry_after=30, times=1000)
    worker = spawn("worker", env=worker_env(sf_bot, fake_org))
    try:  # within 20 s, while the other jobs wait out Slack's 30 s: the wait is the assertion
        sf_bot.fake.wait_until(lambda: fake_org.metadata_updates == 1 and fake_org.refreshes == 1, timeout=20)
    finally:
        kill_session(worker.pid)
        worker.wait()
