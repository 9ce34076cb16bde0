"""What each kill switch's read-back says when the org does not do what it was told: the user lockout and its
revert, the cron abort. Driven over signed HTTP against the fake org, whose writes can be undone as they are
answered (a trigger, another admin) or lost on the way."""

from __future__ import annotations

import time

from bot.core.approval import RequestStatus
from bot.core.audit import AuditKind
from tests.conftest import RunningBot
from tests.driver import (
    CAROL,
    approve,
    click,
    decide,
    declare,
    incident_channel,
    open_phase,
    request,
    request_id,
    request_revert,
    state,
    text_of,
    wait_card,
)
from tests.fakes.salesforce import CHAT_DML_SET, CHAT_USER_SET, SUSPECT_USER_ID, FakeSalesforce
from tests.fakes.slack import Channel
from tests.integration.test_killswitches import REQUEST_CALLBACK

SUSPECT_SETS = {CHAT_USER_SET, CHAT_DML_SET}


def lockout(bot: RunningBot, channel: Channel, user_id: str = "005000000000ABC") -> tuple[str, dict[str, object]]:
    return request(bot, channel, "user-lockout", {"reason": "suspect", "user_id": user_id})


def suspect_sets(org: FakeSalesforce) -> set[str]:
    return {
        r["PermissionSetId"]
        for r in org.rows("PermissionSetAssignment")
        if r["AssigneeId"] == SUSPECT_USER_ID and not r["PermissionSet"]["IsOwnedByProfile"]
    }


def outcome(bot: RunningBot, approval: str) -> object:
    return bot.services.approvals.get(request_id(approval))[1]


def test_the_lockout_card_says_what_it_will_do_and_refuses_an_id_that_is_not_a_users(sf_bot: RunningBot) -> None:
    channel = incident_channel(sf_bot)
    sf_bot.slack.command("killswitch user-lockout", channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REQUEST_CALLBACK))[-1]
    field = next(b for b in view["blocks"] if b.get("block_id") == "user_id")
    assert field["label"]["text"] == "Salesforce user Id to lock out"
    assert field["hint"]["text"] == "15 or 18 characters, starting with 005"
    account = sf_bot.slack.submit(view, {"reason": "suspect", "user_id": "001000000000ABC"}).json()
    assert "005" in account["errors"]["user_id"]  # an Account's Id is not a user's
    assert sf_bot.slack.submit(view, {"reason": "suspect", "user_id": ""}).json()["errors"]["user_id"]
    _, card = lockout(sf_bot, channel)
    plan = text_of(card)
    assert "REST delete of each PermissionSetAssignment it returns (FlowMason_Org_Chat_User, " in plan
    assert "FlowMason_Org_Chat_Dml_User)" in plan and "then the same query again, expecting none" in plan
    assert f"AssigneeId = '{SUSPECT_USER_ID}'" in plan


def test_a_lockout_the_org_undoes_is_not_verified_and_names_what_is_left(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    approval, card = lockout(sf_bot, channel)
    fake_org.inject(r"/sobjects/PermissionSetAssignment/", "undone", times=2)  # both deletes answered, undone
    approve(sf_bot, channel, card, approval)
    assert sf_bot.run_jobs() == 0
    assert suspect_sets(fake_org) == SUSPECT_SETS
    assert (
        ":warning: *NOT VERIFIED*: 2 assignment(s) left: FlowMason_Org_Chat_User, FlowMason_Org_Chat_Dml_User"
        in text_of(card)
    )


def test_a_lost_delete_with_one_assignment_gone_stays_unknown_and_one_with_none_gone_fails(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """The second delete gets no answer and is never made: half the lockout is in the org. That is neither done
    nor not done: the request stays outcome unknown (never "not applied"), and nothing is sent again."""
    channel = incident_channel(sf_bot)
    approval, card = lockout(sf_bot, channel)
    fake_org.inject(r"/sobjects/PermissionSetAssignment/", "dropped", skip=1)
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    sf_bot.clock.advance(seconds=31)
    sf_bot.run_due_jobs(at=time.time() + 600)
    assert len(suspect_sets(fake_org)) == 1
    assert outcome(sf_bot, approval).status is RequestStatus.UNKNOWN  # type: ignore[attr-defined]
    assert "1 assignment(s) left" in text_of(card)

    second = declare(sf_bot, "declare sev1 Another suspect", prefix="inc-2-")
    again, again_card = lockout(sf_bot, second, "005000000000XYZ")
    fake_org.inject(r"/sobjects/PermissionSetAssignment/", "dropped")  # its only delete lost: nothing changed
    approve(sf_bot, second, again_card, again)
    sf_bot.run_jobs()
    sf_bot.clock.advance(seconds=31)
    sf_bot.run_due_jobs(at=time.time() + 600)
    assert outcome(sf_bot, again).status is RequestStatus.FAILED  # type: ignore[attr-defined]
    assert "not applied: the org shows the state before it (1 assignment(s) left" in text_of(again_card)


def test_a_user_with_nothing_to_revoke_is_not_locked_out_again(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    sf_bot.slack.command("killswitch user-lockout", channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REQUEST_CALLBACK))[-1]
    sf_bot.slack.submit(view, {"reason": "suspect", "user_id": "005000000000NOB"})
    sf_bot.fake.wait_until(lambda: any("0 assignment(s) to revoke" in r.get("text", "") for r in sf_bot.fake.responses))


def test_a_revert_the_org_half_undoes_is_not_verified(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = lockout(sf_bot, channel)
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    assert suspect_sets(fake_org) == set()
    revert_plan = "REST create PermissionSetAssignment: AssigneeId"
    revert_id, revert_card = request_revert(sf_bot, channel, card, "cleared")
    assert revert_plan in text_of(revert_card)
    assert "then a REST query of the user's assignments, expecting them in place" in text_of(revert_card)
    fake_org.inject(r"/sobjects/PermissionSetAssignment", "undone", skip=1)  # the second create is undone
    decide(sf_bot, channel, revert_card, revert_id, CAROL)
    sf_bot.fake.wait_until(lambda: "Approved by" in text_of(revert_card))
    sf_bot.run_jobs()
    assert len(suspect_sets(fake_org)) == 1
    assert ":warning: *NOT VERIFIED*: 1 of 2 assignment(s) in place" in text_of(revert_card)


def test_a_cron_abort_the_org_undoes_is_not_verified(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "abort-inventory-cron")
    assert "Tooling API executeAnonymous: " in text_of(card) and "System.abortJob" in text_of(card)
    assert "expecting none" in text_of(card)
    fake_org.inject(r"executeAnonymous", "undone")
    approve(sf_bot, channel, card, approval)
    assert sf_bot.run_jobs() == 0
    assert ":warning: *NOT VERIFIED*: 1 scheduled job(s) named FM Org Inventory Nightly left" in text_of(card)
    assert "the Apex compiled and ran." in text_of(card)


def test_a_cron_abort_with_no_job_scheduled_is_not_sent(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    fake_org.rows("CronTrigger")[:] = [
        r for r in fake_org.rows("CronTrigger") if r["CronJobDetail"]["Name"] != "FM Org Inventory Nightly"
    ]
    channel = incident_channel(sf_bot)
    sf_bot.slack.command("killswitch abort-inventory-cron", channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REQUEST_CALLBACK))[-1]
    sf_bot.slack.submit(view, {"reason": "again"})
    sf_bot.fake.wait_until(
        lambda: any(
            "no scheduled job named FM Org Inventory Nightly" in r.get("text", "") for r in sf_bot.fake.responses
        )
    )
    assert not [apex for apex in fake_org.apex if "abortJob" in apex]


def test_a_lockout_someone_did_by_hand_before_it_ran_settles_its_step_without_sending(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    sf_bot.services.walkthrough.steps.remember_parameters(1, {"suspect_user_id": SUSPECT_USER_ID})
    contain = open_phase(sf_bot, channel, "prompt-injection", "contain")
    click(sf_bot, channel, contain, "step.run", "revoke-suspect")
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REQUEST_CALLBACK))[-1]
    sf_bot.slack.submit(view, {"reason": "suspect", "user_id": SUSPECT_USER_ID})
    approval, card = wait_card(sf_bot, channel)
    assert sf_bot.services.approvals.targets(1, "user_id") == {SUSPECT_USER_ID}  # the draft marks them suspect
    rows = fake_org.rows("PermissionSetAssignment")
    rows[:] = [r for r in rows if r["AssigneeId"] != SUSPECT_USER_ID or r["PermissionSet"]["IsOwnedByProfile"]]
    approve(sf_bot, channel, card, approval)
    assert sf_bot.run_jobs() == 0
    assert not [call for call in fake_org.calls if call[0] == "DELETE"]
    settled = state(sf_bot, "prompt-injection", "revoke-suspect")
    assert settled.status.value == "done" and "0 assignment(s) to revoke" in str(settled.result)
    unchanged = [e for e in sf_bot.services.audit.entries(1) if e.kind is AuditKind.UNCHANGED]
    assert unchanged[-1].details["prior"] == {"assignments": {}, "ids": []}
