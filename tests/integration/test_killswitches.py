"""Kill switches behind two-person approval, over HTTP, with the fake Slack and the fake org."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from bot.core.approval import Refusal
from bot.core.audit import AuditKind
from bot.core.timeline import EntryKind
from bot.render.switches import REQUEST_CALLBACK, REVERT_CALLBACK
from bot.services.approvals import Refused
from tests.conftest import RunningBot, jwt_settings
from tests.driver import (
    ALICE,
    BOB,
    CAROL,
    approve,
    approve_buttons,
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
    wait_card,
)
from tests.fakes.salesforce import (
    BOT_USER_ID,
    CHAT_DML_SET,
    CHAT_USER_SET,
    OTHER_USER_ID,
    SUSPECT_USER_ID,
    FakeSalesforce,
)
from tests.fakes.slack import Channel


def test_request_approve_execute_verify(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    pending = text_of(card)
    assert "Requested by* <@U0ALICE01>: “scope unclear, stop the bleeding”" in pending
    assert "*Target* org-wide" in pending
    assert "Metadata API updateMetadata: FM_Config.Default: orgChatSurfacesEnabled__c = none" in pending
    assert "Tooling API executeAnonymous: FMConfig.refresh();" in pending
    assert "Expires at 14:15 UTC" in pending and "any member of this channel but <@U0ALICE01>" in pending

    assert decide(sf_bot, channel, card, approval, BOB).status_code == 200
    sf_bot.fake.wait_until(lambda: "Approved by <@U0BOB0001>" in text_of(card))
    assert fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] == "all"  # runs in the worker
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] == "none"
    assert fake_org.refreshes == 1 and fake_org.metadata_updates == 1
    done = text_of(card)
    assert "*Executed*: FM_Config.Default: orgChatSurfacesEnabled__c = none; FMConfig.refresh() ran." in done
    assert "*Verified*: read back orgChatSurfacesEnabled__c = none" in done
    assert "Prior: orgChatSurfacesEnabled__c was 'all'" in done
    assert "switch.approve" not in done and "switch.revert" in done  # decided: Approve and Deny are gone
    assert audit_kinds(sf_bot) == [
        AuditKind.REQUESTED,
        AuditKind.APPROVED,
        AuditKind.EXECUTION_STARTED,
        AuditKind.EXECUTED,
        AuditKind.VERIFIED,
    ]
    switch_lines = [e.text for e in sf_bot.services.timeline.entries(1) if e.kind is EntryKind.SWITCH]
    assert switch_lines[0].startswith("requested: orgChatSurfacesEnabled = none") and len(switch_lines) == 4


@pytest.mark.parametrize(
    ("who", "prepare", "sentence"),
    [
        (ALICE, None, "You made this request: a second person has to approve it."),
        ("U0STRANGER", None, "You are not one of the approvers for this request."),
        (BOB, "expire", "This request has expired; request it again if it is still needed."),
        (BOB, "resolve", "The incident is resolved; nothing more runs for it."),
        (CAROL, "decided", "This request was already approved by <@U0BOB0001>."),
    ],
)
def test_refusals_answer_the_clicker_and_run_nothing(
    sf_bot: RunningBot, fake_org: FakeSalesforce, who: str, prepare: str | None, sentence: str
) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-dml-off")
    if prepare == "expire":
        sf_bot.clock.advance(minutes=15, seconds=1)
    elif prepare == "resolve":
        incident = sf_bot.services.incidents.in_channel(channel.id)
        assert incident is not None
        sf_bot.services.incidents.store.update(incident, status="resolved")
    elif prepare == "decided":
        approve(sf_bot, channel, card, approval)
        sf_bot.run_jobs()
    decide(sf_bot, channel, card, approval, who)
    sf_bot.fake.wait_until(lambda: sentence in ephemeral_texts(sf_bot))
    sf_bot.run_jobs()
    expected_updates = 1 if prepare == "decided" else 0
    assert fake_org.metadata_updates == expected_updates
    assert AuditKind.REFUSED in audit_kinds(sf_bot)


def test_expiry_is_marked_by_a_scheduled_job(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    _, card = request(sf_bot, channel, "tool-calling-off")
    sf_bot.clock.advance(minutes=14)
    sf_bot.run_due_jobs()
    assert "switch.approve" in text_of(card)
    sf_bot.clock.advance(minutes=2)
    sf_bot.run_due_jobs()
    assert "Expired at 14:15 UTC without a second person. Nothing was sent." in text_of(card)
    assert fake_org.metadata_updates == 0 and audit_kinds(sf_bot)[-1] is AuditKind.EXPIRED


def test_a_replayed_approve_payload_is_refused(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    payload: dict[str, Any] = {}

    original_post = sf_bot.slack.post_payload

    def capture(sent: dict[str, Any], **options: Any) -> Any:
        payload.update(sent)
        return original_post(sent, **options)

    sf_bot.slack.post_payload = capture  # type: ignore[method-assign]
    decide(sf_bot, channel, card, approval, BOB)
    sf_bot.slack.post_payload = original_post  # type: ignore[method-assign]
    sf_bot.fake.wait_until(lambda: "Approved by" in text_of(card))
    sf_bot.run_jobs()
    assert sf_bot.slack.post_payload(payload).status_code == 200  # the same signed body, sent again
    sf_bot.fake.wait_until(lambda: "This request was already approved by <@U0BOB0001>." in ephemeral_texts(sf_bot))
    sf_bot.run_jobs()
    assert fake_org.metadata_updates == 1


def test_fifty_concurrent_approvals_make_exactly_one_change(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot, members=50)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approvers = [f"U0MEMBER{i:02d}" for i in range(50)]
    barrier = threading.Barrier(len(approvers))
    statuses: list[int] = []

    def approve(user: str) -> None:
        barrier.wait()
        statuses.append(decide(sf_bot, channel, card, approval, user).status_code)

    threads = [threading.Thread(target=approve, args=(u,)) for u in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 50
    sf_bot.fake.wait_until(lambda: sum("already approved" in t for t in ephemeral_texts(sf_bot)) == 49)
    assert sf_bot.run_jobs() == 0
    assert fake_org.metadata_updates == 1 and fake_org.refreshes == 1
    assert audit_kinds(sf_bot).count(AuditKind.APPROVED) == 1
    assert audit_kinds(sf_bot).count(AuditKind.EXECUTED) == 1


def test_deny_is_final(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    decide(sf_bot, channel, card, approval, BOB, "switch.deny")
    sf_bot.fake.wait_until(lambda: "Denied by <@U0BOB0001>" in text_of(card))
    decide(sf_bot, channel, card, approval, CAROL)
    sf_bot.fake.wait_until(lambda: "This request was already denied by <@U0BOB0001>." in ephemeral_texts(sf_bot))
    sf_bot.run_jobs()
    assert fake_org.metadata_updates == 0 and "switch.approve" not in text_of(card)
    entries = sf_bot.services.approvals.audit.entries(1)
    assert [(e.kind, e.actor) for e in entries] == [
        (AuditKind.REQUESTED, ALICE),
        (AuditKind.DENIED, BOB),  # the decision, in the denier's name
        (AuditKind.REFUSED, CAROL),  # the click after it, refused and audited
    ]
    assert entries[2].details == {"refusal": "DECIDED"}


def test_a_decision_is_refused_with_its_reason_alone(sf_bot: RunningBot) -> None:
    """The guard finds the request first; if it is gone by the time the decision is made, the decision says so.
    A refusal other than "already decided" names no decider, even when the request has a status to show."""
    assert sf_bot.services.approvals.decide("0000000000", BOB, approve=True) == Refused(Refusal.MISSING)
    channel = incident_channel(sf_bot)
    approval, _ = request(sf_bot, channel, "org-chat-off")
    assert sf_bot.services.approvals.decide(request_id(approval), ALICE, approve=True) == Refused(Refusal.SELF)


def test_revert_needs_two_people_and_restores_the_prior_value(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    # a revert form submitted by someone outside the channel (its authority is checked on who submits): refused
    revert = next(e for e in buttons(card) if e["action_id"] == "switch.revert")
    sf_bot.slack.click("switch.revert", revert["value"], user=BOB, channel_id=channel.id, message_ts=card["ts"])
    form = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REVERT_CALLBACK))[-1]
    assert sf_bot.slack.submit(form, {"reason": "vendor recovered"}, user="U0STRANGER").text == ""
    sf_bot.fake.wait_until(
        lambda: (
            "Only members of INC-1's channel may request a kill switch or a destructive step; join it first."
            in ephemeral_texts(sf_bot)
        )
    )
    assert "Revert requested" not in text_of(card)
    revert_id, revert_card = request_revert(sf_bot, channel, card, "vendor recovered")
    sf_bot.fake.wait_until(lambda: "Revert requested" in text_of(card))
    assert "switch.revert" not in text_of(card)
    assert "orgChatSurfacesEnabled__c = all" in text_of(revert_card)
    decide(sf_bot, channel, revert_card, revert_id, BOB)  # the requester cannot approve their revert
    sf_bot.fake.wait_until(
        lambda: "You made this request: a second person has to approve it." in ephemeral_texts(sf_bot)
    )
    decide(sf_bot, channel, revert_card, revert_id, CAROL)
    sf_bot.fake.wait_until(lambda: "Approved by <@U0CAROL01>" in text_of(revert_card))
    sf_bot.run_jobs()
    assert fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] == "all"
    assert "*Verified*: read back orgChatSurfacesEnabled__c = all" in text_of(revert_card)
    assert AuditKind.REVERT_REQUESTED in audit_kinds(sf_bot)


def test_a_drill_dry_run_changes_nothing(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot, "declare --drill sev1 Practice the exfil playbook")
    assert channel.name.startswith("drill-1-")
    approval, card = request(sf_bot, channel, "org-chat-off")
    assert "DRILL: dry run" in text_of(card) and "Would send to the org" in text_of(card)
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    assert "dry run: nothing was sent to the org" in text_of(card)
    assert fake_org.metadata_updates == 0 and fake_org.apex == [] and not fake_org.calls_to("Soap/m")
    assert AuditKind.DRY_RUN in audit_kinds(sf_bot)


def test_drills_run_approvals_without_salesforce(bot: RunningBot) -> None:
    channel = incident_channel(bot, "declare --drill sev2 Practice")
    approval, card = request(bot, channel, "abort-inventory-cron")
    approve(bot, channel, card, approval)
    assert bot.run_jobs() == 0
    assert "dry run: nothing was sent to the org" in text_of(card)
    assert "switch.revert" not in text_of(card)  # a dry run changed nothing to put back
    bot.slack.click("switch.revert", approval, user=BOB, channel_id=channel.id, message_ts=card["ts"])
    bot.fake.wait_until(lambda: "Only an executed, revertible kill switch can be reverted." in ephemeral_texts(bot))
    assert not bot.fake.open_views(REVERT_CALLBACK) and not approve_buttons(channel)  # refused before any form


def test_without_salesforce_a_real_incident_cannot_request(bot: RunningBot) -> None:
    channel = incident_channel(bot)
    for command in ("killswitch org-chat-off", "killswitch"):  # neither the form nor the panel
        before = len(ephemeral_texts(bot))
        bot.slack.command(command, channel_id=channel.id)
        bot.fake.wait_until(lambda: any("Salesforce is not connected" in t for t in ephemeral_texts(bot)[before:]))  # noqa: B023
    assert not any(r.get("text") == "Kill switches" for r in bot.fake.responses)
    drill = incident_channel(bot, "declare --drill sev2 Practice")
    bot.slack.command("killswitch", channel_id=drill.id)
    panel = bot.fake.wait_until(lambda: next((r for r in bot.fake.responses if r.get("text") == "Kill switches"), None))
    assert text_of(panel).count("_a drill: executions are dry runs_") == len(bot.services.runbook.switches.switches)


def test_an_fm_config_switch_needs_the_record_named_by_the_operator(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    """The runbook names no FM_Config record: unset, a switch on it is refused with the setting's name, and the
    form is kept; nothing reaches the org."""
    bot = bot_factory(**{**jwt_settings(fake_org), "fm_config_record": None})
    channel = incident_channel(bot)
    bot.slack.command("killswitch org-chat-off", channel_id=channel.id)
    view = bot.fake.wait_until(lambda: bot.fake.open_views(REQUEST_CALLBACK))[-1]
    response = bot.slack.submit(view, {"reason": "scope unclear, stop the bleeding"})
    said = response.text + " ".join(ephemeral_texts(bot))
    assert "Which FM_Config record the switches change is not set: set FM_CONFIG_RECORD" in said, said
    assert not approve_buttons(channel) and not fake_org.calls_to("Soap/m")


def test_user_lockout_revokes_only_non_profile_assignments_and_reverts(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    sf_bot.slack.command("killswitch user-lockout", channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REQUEST_CALLBACK))[-1]
    refused = sf_bot.slack.submit(view, {"reason": "suspect", "user_id": "005000000000ABCAAA"})
    assert refused.json()["errors"] == {
        "user_id": "That 18-character Id's last three characters do not match: check it was copied whole."
    }
    assert sf_bot.slack.submit(view, {"reason": "suspect", "user_id": "005000000000ABC"}).text == ""
    approval, card = wait_card(sf_bot, channel)
    assert f"user id `{SUSPECT_USER_ID}`" in text_of(card)
    assert "AND PermissionSet.IsOwnedByProfile = false" in text_of(card)
    assert "FlowMason_Org_Chat_Dml_User is revoked too, as Playbook 4 does" in text_of(card)  # the table names one
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    left = [
        (r["AssigneeId"], r["PermissionSet"]["IsOwnedByProfile"])
        for r in fake_org.rows("PermissionSetAssignment")
        if r["AssigneeId"] != BOT_USER_ID
    ]
    assert left == [(SUSPECT_USER_ID, True), (OTHER_USER_ID, False)]
    assert "deleted 2 permission set assignment(s)." in text_of(card)
    assert "*Verified*: 0 assignment(s) left" in text_of(card)

    sf_bot.clock.advance(minutes=5)  # the revert is a request of its own: its own time and deadline
    revert_id, revert_card = request_revert(sf_bot, channel, card, "cleared after review")
    said = text_of(revert_card)
    assert "*Revert: " in said and "*Requested by* <@U0BOB0001>: “cleared after review”" in said
    assert f"*Target* user id `{SUSPECT_USER_ID}`" in said  # the revert names whom it gives access back to
    revert, _ = sf_bot.services.approvals.get(request_id(revert_id))
    assert revert.created_at == sf_bot.clock.now() and not revert.revertible
    assert revert.expires_at == sf_bot.clock.now() + sf_bot.services.approvals.policy.expiry
    decide(sf_bot, channel, revert_card, revert_id, CAROL)
    sf_bot.fake.wait_until(lambda: "Approved by" in text_of(revert_card))
    sf_bot.run_jobs()
    restored = sorted(
        r["PermissionSetId"]
        for r in fake_org.rows("PermissionSetAssignment")
        if r["AssigneeId"] == SUSPECT_USER_ID and not r["PermissionSet"]["IsOwnedByProfile"]
    )
    assert restored == sorted([CHAT_USER_SET, CHAT_DML_SET])
    assert "*Verified*: 2 of 2 assignment(s) in place" in text_of(revert_card)


def test_provider_switch_is_guided_and_verified_by_callout_status(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    """No API changes "Enabled for Callouts": once approved, a person clears it in Setup; the bot reads
    calloutStatus until it shows Disabled, and only then says verified (and the incident mitigated)."""
    channel = incident_channel(sf_bot)
    sf_bot.slack.command("killswitch provider-off", channel_id=channel.id)
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REQUEST_CALLBACK))[-1]
    picker = next(b for b in view["blocks"] if b.get("block_id") == "named_credential")
    assert [o["value"] for o in picker["element"]["options"]] == ["Anthropic_API", "OpenAI_API"]  # the org's own
    assert sf_bot.slack.submit(view, {"reason": "dead"}).json()["errors"] == {
        "named_credential": "Pick the Named Credential."
    }
    sf_bot.slack.submit(view, {"reason": "Anthropic 529s", "named_credential": "Anthropic_API"})
    approval, card = wait_card(sf_bot, channel)
    assert "Nothing is sent by the bot: no Salesforce API can change Enabled for Callouts." in text_of(card)
    assert "Named Credentials tab → Anthropic_API → Edit → clear Enabled for Callouts" in text_of(card)
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    assert "*Your turn*" in text_of(card)
    assert fake_org.metadata_updates == 0 and fake_org.apex == []  # nothing was sent

    fake_org.set_callout_status("Anthropic_API", "Disabled")  # the person does it in Setup
    sf_bot.clock.advance(seconds=15)
    sf_bot.run_due_jobs()
    assert "*Verified*: Anthropic_API calloutStatus = Disabled" in text_of(card)
    assert "switch.revert" in text_of(card)
    incident = sf_bot.services.incidents.in_channel(channel.id)
    assert incident is not None and incident.mitigated_at is not None


def test_a_guided_change_not_seen_in_time_is_not_verified(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "provider-off", {"named_credential": "OpenAI_API"})
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    for _ in range(61):  # every 15 s for 15 minutes, nobody changes it
        sf_bot.clock.advance(seconds=15)
        sf_bot.run_due_jobs()
    assert "*NOT VERIFIED*: not seen within 15 minutes: OpenAI_API calloutStatus = Enabled" in text_of(card)
    incident = sf_bot.services.incidents.in_channel(channel.id)
    assert incident is not None and incident.mitigated_at is None


def test_abort_cron_is_verified_and_not_revertible(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "abort-inventory-cron")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    assert [r["CronJobDetail"]["Name"] for r in fake_org.rows("CronTrigger")] == ["FM Telemetry Rollup"]
    assert "*Verified*: 0 scheduled job(s) named FM Org Inventory Nightly left" in text_of(card)
    assert "switch.revert" not in text_of(card)


def test_panel_lists_the_switches_with_their_state(sf_bot: RunningBot) -> None:
    channel = incident_channel(sf_bot)
    sf_bot.slack.command("killswitch", channel_id=channel.id)
    panel = sf_bot.fake.wait_until(
        lambda: next((r for r in sf_bot.fake.responses if r.get("text") == "Kill switches"), None)
    )
    text = json.dumps(panel["blocks"])
    order = [text.index(f"*{i}. ") for i in range(1, 7)]
    assert order == sorted(order)
    assert "now: orgChatSurfacesEnabled__c = all" in text and "now: scheduled (WAITING)" in text
    assert "per user: asks which user" in text


def test_posture_step_opens_the_panel_and_playbook_steps_request(sf_bot: RunningBot) -> None:
    channel = incident_channel(sf_bot)
    checklist = next(m for m in channel.messages.values() if "First five minutes" in m.get("text", ""))
    click(sf_bot, channel, checklist, "step.run", "kill-switch-posture")
    sf_bot.fake.wait_until(lambda: any(r.get("text") == "Kill switches" for r in sf_bot.fake.responses))
    sf_bot.services.walkthrough.steps.remember_parameters(1, {"suspect_user_id": SUSPECT_USER_ID})
    contain = open_phase(sf_bot, channel, "prompt-injection", "contain")
    click(sf_bot, channel, contain, "step.run", "revoke-suspect")
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REQUEST_CALLBACK))[-1]
    user_input = next(b for b in view["blocks"] if b.get("block_id") == "user_id")
    assert user_input["element"]["initial_value"] == SUSPECT_USER_ID  # remembered from the diagnose query


def test_destructive_step_runs_after_approval_and_settles_its_step(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    channel = incident_channel(sf_bot)
    recover = open_phase(sf_bot, channel, "cache-wedge", "recover")
    run = button(recover, "step.run", "clear-cache")
    assert run["text"]["text"] == "Request approval" and run["style"] == "danger"
    click(sf_bot, channel, recover, "step.run", "clear-cache")
    view = sf_bot.fake.wait_until(lambda: sf_bot.fake.open_views(REQUEST_CALLBACK))[-1]
    sf_bot.slack.submit(view, {"reason": "cache wedged for 20 minutes"})
    approval, card = wait_card(sf_bot, channel)
    assert "p.remove(k);" in text_of(card) and fake_org.cache_keys
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    assert fake_org.cache_keys == []
    assert "nothing to read back for this Apex" in text_of(card)
    settled = state(sf_bot, "cache-wedge", "clear-cache")
    assert (settled.status.value, settled.by) == ("done", ALICE)


def request_clear_cache(bot: RunningBot) -> tuple[Channel, dict[str, Any], str, dict[str, Any]]:
    """Playbook 3's "Clear the cache" (a destructive Apex) asked for from its step: the incident's channel, the
    recover phase's message, the request's Approve value and its card."""
    channel = incident_channel(bot)
    recover = open_phase(bot, channel, "cache-wedge", "recover")
    click(bot, channel, recover, "step.run", "clear-cache")
    view = bot.fake.wait_until(lambda: bot.fake.open_views(REQUEST_CALLBACK))[-1]
    bot.slack.submit(view, {"reason": "cache wedged for 20 minutes"})
    approval, card = wait_card(bot, channel)
    return channel, recover, approval, card


def test_a_destructive_step_that_fails_in_the_org_fails_its_step(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel, recover, approval, card = request_clear_cache(sf_bot)
    fake_org.inject(r"executeAnonymous", "apex_exception")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    assert "*Failed*:" in text_of(card) and fake_org.cache_keys  # nothing was removed
    failed = state(sf_bot, "cache-wedge", "clear-cache")
    assert failed.status.value == "failed" and "Too many DML statements" in failed.error
    sf_bot.fake.wait_until(lambda: "Too many DML statements" in text_of(recover))  # the step says why


def test_an_unanswered_destructive_apex_is_never_sent_again_and_asks_a_person(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """Clear the cache, approved; the Apex reaches the org but its answer never comes. Nothing can be read back
    from an anonymous Apex: the card says to check by hand, the step fails with why, and no later run sends it."""
    channel, recover, approval, card = request_clear_cache(sf_bot)
    fake_org.inject(r"executeAnonymous", "timeout")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    sf_bot.fake.wait_until(lambda: len(fake_org.apex) == 1)  # the org ran it, late
    sf_bot.fake.wait_until(lambda: "Check its effect by hand; it will not be sent again." in text_of(card))
    assert "Outcome unknown: Salesforce did not answer, and this Apex leaves nothing to read back." in text_of(card)
    failed = state(sf_bot, "cache-wedge", "clear-cache")
    assert failed.status.value == "failed" and failed.error == "outcome unknown: check by hand"
    sf_bot.fake.wait_until(lambda: "outcome unknown: check by hand" in text_of(recover))  # the step says why
    assert sf_bot.services.approvals.get(request_id(approval))[1].verification.value == "not checked"
    sf_bot.clock.advance(minutes=10)
    sf_bot.run_due_jobs()
    assert len(fake_org.apex) == 1


def test_a_failed_execution_is_shown_and_audited(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    fake_org.inject(r"/Soap/m/", "limit")  # the org refuses the read before the change: nothing is sent
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    assert "*Failed*: The org's API request limit is exceeded (REQUEST_LIMIT_EXCEEDED)." in text_of(card)
    assert AuditKind.FAILED in audit_kinds(sf_bot)
    assert fake_org.metadata["FM_Config.Default"]["orgChatSurfacesEnabled__c"] == "all"


def test_the_execution_job_is_idempotent(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    channel = incident_channel(sf_bot)
    approval, card = request(sf_bot, channel, "org-chat-off")
    approve(sf_bot, channel, card, approval)
    sf_bot.run_jobs()
    sf_bot.services.execution.execute(approval)  # the job delivered again
    assert fake_org.metadata_updates == 1
