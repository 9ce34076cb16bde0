"""The approval service on its own: requests, decisions, reverts, expiry, resolve and the sweep, called the way the
listeners and jobs call them, with the fake Slack answering who is where and the fake org read through the real
gateway. What each call returns and leaves: the request, its approvers, its audit entries word for word, the jobs
queued. The same flows from a click to the card are in `test_killswitches.py`, `test_access.py` and
`test_safety.py`."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from rq.job import Job

from bot.core.approval import Action, ApprovalRequest, Move, Refusal, RequestStatus
from bot.core.audit import AuditKind
from bot.core.incident import IncidentStatus
from bot.jobs import JobName
from bot.services.approvals import Decided, Refused, Requested
from bot.services.errors import UserError
from tests.builders import an_incident
from tests.conftest import RunningBot, jwt_settings
from tests.driver import ALICE, BOB, CAROL
from tests.fakes.redis_proxy import RedisProxy
from tests.fakes.salesforce import SUSPECT_USER_ID, FakeSalesforce
from tests.fakes.slack import BOT_USER

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

MALLORY = "U0MALLORY"


def declared(bot: RunningBot, members: set[str] | None = None, **fields: Any) -> None:
    """Incident 1, investigating, its channel holding Alice, Bob, Carol and the bot unless `members` says."""
    channel = bot.fake.add_channel("inc-1-org-chat", members if members is not None else {ALICE, BOB, CAROL, BOT_USER})
    incident = an_incident(
        number=1, status=IncidentStatus.INVESTIGATING, declared_at=bot.clock.now(), channel_id=channel.id, **fields
    )
    bot.services.incidents.store.save(incident)


def requested(bot: RunningBot, switch: str = "org-chat-off", target: dict[str, str] | None = None) -> Requested:
    return bot.services.approvals.request(1, ALICE, "bleeding", switch, None, None, target or {})


def approved_and_run(bot: RunningBot, request: ApprovalRequest) -> ApprovalRequest:
    """Bob approves `request` and its execution runs here (a dry run in a drill)."""
    bot.services.approvals.decide(request.id, BOB, True)
    bot.services.execution.execute(request.id)
    return request


def entries(bot: RunningBot) -> list[tuple[AuditKind, str | None, str]]:
    return [(e.kind, e.actor, e.summary) for e in bot.services.audit.entries(1)]


def queued(bot: RunningBot, kind: str, request: str) -> bool:
    scheduler = bot.services.scheduler
    return scheduler.pending(scheduler.job_id(kind, request))


def test_a_request_is_made_with_its_approvers_entry_and_expiry(sf_bot: RunningBot) -> None:
    declared(sf_bot)
    made = requested(sf_bot)
    request = made.request
    assert made.approvers == frozenset({BOB, CAROL}) and made.direct is False  # the channel's others, not the bot
    assert (request.requester, request.reason, request.switch, request.mechanism) == (
        ALICE,
        "bleeding",
        "org-chat-off",
        "fm_config",
    )
    assert request.title == "orgChatSurfacesEnabled = none (Org Chat completely off)"
    assert request.change == {"record": "FM_Config.Default", "fields": {"orgChatSurfacesEnabled__c": "none"}}
    assert request.created_at == sf_bot.clock.now() and request.expires_at > request.created_at
    assert request.revertible and not request.guided and not request.drill and request.approvers_from_channel
    assert request.action is Action.APPLY and request.reverts is None
    assert entries(sf_bot) == [
        (AuditKind.REQUESTED, ALICE, f"requested: {request.title}: bleeding"),
    ]
    assert sf_bot.services.audit.entries(1)[0].details == {
        "title": request.title,
        "reason": "bleeding",
        "plan": request.plan,
        "target": {},
        "approvers": [BOB, CAROL],
    }
    assert queued(sf_bot, "expire", request.id)
    view = sf_bot.services.approvals.card_view(request.id)
    assert view.request == request and view.approvers is None and view.head.count == 1
    assert view.outcome.status is RequestStatus.PENDING


def test_a_request_is_refused_for_an_unknown_switch_a_closed_incident_or_without_salesforce(
    sf_bot: RunningBot, bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    with pytest.raises(UserError) as unknown:
        requested(sf_bot, "no-such-switch")
    assert str(unknown.value).startswith("There is no kill switch `no-such-switch`; the switches are `org-chat-off`, ")
    with pytest.raises(UserError, match=r"^Pick the Named Credential\.$"):
        requested(sf_bot, "provider-off")  # the mechanism's refusal, in its words
    with pytest.raises(UserError, match=r"^There is no incident 2\.$"):
        sf_bot.services.approvals.request(2, ALICE, "x", "org-chat-off", None, None, {})
    incidents = sf_bot.services.incidents.store
    resolved = (incidents.get(1) or pytest.fail("no incident 1")).model_copy(update={"status": IncidentStatus.RESOLVED})
    incidents.save(resolved)
    with pytest.raises(UserError) as closed:
        requested(sf_bot)
    assert str(closed.value) == resolved.closed_sentence
    without = bot_factory()  # no Salesforce settings
    declared(without)
    with pytest.raises(UserError) as unavailable:
        requested(without)
    assert str(unavailable.value) == (
        "Salesforce is not connected, so the bot cannot run kill switches; the panel in the first five minutes shows "
        "how to do each by hand, with a second person checking."
    )
    assert without.services.audit.entries(1) == []
    drill = bot_factory()
    declared(drill, drill=True)
    assert requested(drill).request.drill  # a drill needs no Salesforce: its executions are dry runs


def test_a_request_naming_a_step_that_needs_no_approval_is_refused(sf_bot: RunningBot) -> None:
    declared(sf_bot)
    with pytest.raises(UserError, match=r"^Playbook `cache-wedge` is not running in this incident"):
        sf_bot.services.approvals.request(1, ALICE, "x", None, "cache-wedge", "clear-cache", {})
    sf_bot.services.walkthrough.steps.start_playbook(1, "cache-wedge")
    with pytest.raises(UserError, match=r"^That request names no kill switch and no destructive step\.$"):
        sf_bot.services.approvals.request(1, ALICE, "x", None, "cache-wedge", "refresh-config", {})
    step = sf_bot.services.approvals.request(1, ALICE, "wedged", None, "cache-wedge", "clear-cache", {})
    assert step.request.mechanism == "apex" and step.request.switch is None and not step.request.revertible
    assert (step.request.scope, step.request.step) == ("cache-wedge", "clear-cache")
    assert step.request.title == "Heavy hammer: clear all FMLLMCache keys"


def test_the_one_decision_queues_the_execution_and_cancels_the_expiry(sf_bot: RunningBot) -> None:
    declared(sf_bot)
    request = requested(sf_bot).request
    approvals = sf_bot.services.approvals
    assert approvals.decide(request.id, ALICE, True) == Refused(Refusal.SELF)
    assert approvals.decide("nosuchone0", BOB, True) == Refused(Refusal.MISSING)
    assert approvals.decide(request.id, BOB, True) == Decided(request, True)
    assert queued(sf_bot, "execute", request.id) and not queued(sf_bot, "expire", request.id)
    scheduler = sf_bot.services.scheduler
    job = Job.fetch(scheduler.job_id("execute", request.id), connection=scheduler.executions.connection)
    assert job.origin == scheduler.executions.name and job.func_name == JobName.EXECUTE_REQUEST
    assert job.args == (request.id,) and job.timeout == sf_bot.services.settings.execution_lease_seconds
    assert job.retries_left == 3 and job.retry_intervals == [30, 120, 300]  # a worker dying mid-run is run again
    assert approvals.decide(request.id, CAROL, False) == Refused(Refusal.DECIDED, BOB, RequestStatus.APPROVED)
    assert entries(sf_bot) == [
        (AuditKind.REQUESTED, ALICE, f"requested: {request.title}: bleeding"),
        (AuditKind.REFUSED, ALICE, f"refused {ALICE}: {Refusal.SELF.value}"),
        (AuditKind.APPROVED, BOB, f"approved by {BOB}: {request.title}"),
        (AuditKind.REFUSED, CAROL, f"refused {CAROL}: {Refusal.DECIDED.value}"),
    ]
    assert [e.details for e in sf_bot.services.audit.entries(1)][3] == {"refusal": "DECIDED"}
    assert approvals.sweep() == []  # queued already: the sweep leaves it


def test_a_denial_queues_nothing_and_a_requester_may_withdraw(sf_bot: RunningBot) -> None:
    declared(sf_bot)
    approvals = sf_bot.services.approvals
    denied = requested(sf_bot).request
    assert approvals.decide(denied.id, BOB, False) == Decided(denied, False)
    assert not queued(sf_bot, "execute", denied.id) and not queued(sf_bot, "expire", denied.id)
    assert entries(sf_bot)[-1] == (AuditKind.DENIED, BOB, f"denied by {BOB}: {denied.title}")
    withdrawn = requested(sf_bot).request
    channel = sf_bot.services.incidents.store.get(1).channel_id  # type: ignore[union-attr]
    sf_bot.fake.channels[channel].members.discard(ALICE)  # she left the channel: she may still withdraw her own
    assert approvals.decide(withdrawn.id, ALICE, False) == Decided(withdrawn, False)
    assert approvals.get(withdrawn.id)[1].status is RequestStatus.DENIED


def test_someone_outside_the_channel_or_a_guest_neither_approves_nor_denies(sf_bot: RunningBot) -> None:
    declared(sf_bot, members={ALICE, BOB, CAROL, MALLORY, BOT_USER})
    request = requested(sf_bot).request
    approvals = sf_bot.services.approvals
    sf_bot.fake.guests.add(MALLORY)  # a guest in the channel
    assert approvals.decide(request.id, MALLORY, True) == Refused(Refusal.GUEST)
    assert approvals.decide(request.id, MALLORY, False) == Refused(Refusal.GUEST)
    assert approvals.get(request.id)[1].status is RequestStatus.PENDING


def test_a_sweep_queues_what_was_approved_and_lost(sf_bot: RunningBot) -> None:
    declared(sf_bot)
    approvals = sf_bot.services.approvals
    request = requested(sf_bot).request
    approvals.decide(request.id, BOB, True)
    sf_bot.services.scheduler.cancel(sf_bot.services.scheduler.job_id("execute", request.id))  # the queue lost it
    assert approvals.sweep() == [request.id] and queued(sf_bot, "execute", request.id)
    assert approvals.sweep() == []


def test_an_approval_redis_cannot_queue_is_approved_and_left_to_the_sweep(
    bot_factory: Any, fake_org: FakeSalesforce, redis_proxy: RedisProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis refuses every RQ command after the decision: it stands, and the log says the sweep will queue it."""
    bot = bot_factory(redis_url=redis_proxy.url, **jwt_settings(fake_org))
    declared(bot)
    request = requested(bot).request
    redis_proxy.fail(r"\brq:")
    with caplog.at_level(logging.WARNING, logger="bot.services.approvals"):
        decided = bot.services.approvals.decide(request.id, BOB, True)
    redis_proxy.clear()
    assert decided == Decided(request, True)
    said = [r.getMessage() for r in caplog.records if r.name == "bot.services.approvals"]
    assert said == [f"request {request.id} approved; its execution will be queued by the worker's sweep"]
    assert bot.services.approvals.get(request.id)[1].status is RequestStatus.APPROVED
    assert bot.services.approvals.sweep() == [request.id]


def test_a_request_nobody_approved_expires_once_its_time_is_up(sf_bot: RunningBot) -> None:
    declared(sf_bot)
    approvals = sf_bot.services.approvals
    request = requested(sf_bot).request
    assert approvals.expire(request.id) is None  # not yet
    sf_bot.clock.advance(seconds=(request.expires_at - request.created_at).total_seconds())
    assert approvals.expire(request.id) == request
    assert approvals.get(request.id)[1].status is RequestStatus.EXPIRED
    assert entries(sf_bot)[-1] == (AuditKind.EXPIRED, None, f"expired without a second person: {request.title}")
    assert approvals.expire(request.id) is None and approvals.expire("nosuchone0") is None


def test_resolving_cancels_what_was_not_sent_and_lists_what_is_still_in_effect(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    """Oldest first: a request already run and a pending revert are passed over, and what follows them is still
    cancelled; a switch left on may be reverted after resolve, two people as always."""
    declared(sf_bot)
    approvals = sf_bot.services.approvals
    executed = approved_and_run(sf_bot, requested(sf_bot).request)
    sf_bot.clock.advance(minutes=1)
    revert = approvals.request_revert(executed.id, CAROL, "cleared").request
    sf_bot.clock.advance(minutes=1)
    pending = requested(sf_bot, "tool-calling-off").request
    assert [r.id for r in approvals.still_in_effect(1)] == [executed.id]
    assert approvals.cancel_open(1, CAROL) == [pending.id]
    assert approvals.get(pending.id)[1].status is RequestStatus.CANCELLED
    assert approvals.get(revert.id)[1].status is RequestStatus.PENDING
    assert entries(sf_bot)[-1] == (AuditKind.CANCELLED, CAROL, f"cancelled, the incident was resolved: {pending.title}")
    assert not queued(sf_bot, "expire", pending.id)
    assert approvals.targets(1, "value") == set()
    approvals.decide(revert.id, ALICE, False)
    store = sf_bot.services.incidents.store
    store.save((store.get(1) or pytest.fail("no incident 1")).model_copy(update={"status": IncidentStatus.RESOLVED}))
    after = approvals.request_revert(executed.id, BOB, "left on at resolve")
    assert after.request.reverts == executed.id and after.approvers == frozenset({ALICE, CAROL})


def test_an_executed_switch_is_reverted_by_two_people_and_only_once(
    sf_bot: RunningBot, fake_org: FakeSalesforce
) -> None:
    declared(sf_bot)
    approvals = sf_bot.services.approvals
    original = requested(sf_bot).request
    with pytest.raises(UserError, match=r"^Only an executed, revertible kill switch can be reverted"):
        approvals.request_revert(original.id, BOB, "too early")
    approved_and_run(sf_bot, original)
    sf_bot.clock.advance(minutes=5)
    revert = approvals.request_revert(original.id, CAROL, "cleared")
    asked = revert.request
    assert (asked.action, asked.reverts, asked.requester, asked.reason) == (
        Action.REVERT,
        original.id,
        CAROL,
        "cleared",
    )
    assert asked.change == {"record": "FM_Config.Default", "fields": {"orgChatSurfacesEnabled__c": "all"}}
    assert asked.plan[0] == "Metadata API updateMetadata: FM_Config.Default: orgChatSurfacesEnabled__c = all"
    assert not asked.revertible and asked.id != original.id and len(asked.id) == 10
    assert asked.created_at == sf_bot.clock.now() and asked.expires_at - asked.created_at == approvals.policy.expiry
    assert revert.approvers == frozenset({ALICE, BOB})
    assert entries(sf_bot)[-1] == (AuditKind.REVERT_REQUESTED, CAROL, f"revert requested: {asked.title}: cleared")
    with pytest.raises(UserError, match=rf"^This request has a revert already \(`{asked.id}`\): see its card\.$"):
        approvals.request_revert(original.id, BOB, "again")
    approvals.decide(asked.id, ALICE, False)  # denied: the switch may be reverted again
    again = approvals.request_revert(original.id, BOB, "now")
    assert again.request.reverts == original.id


def test_a_revert_its_mechanism_refuses_is_answered_and_leaves_the_switch_revertible(sf_bot: RunningBot) -> None:
    """A lockout that removed no assignment is *already in place* when it runs, never executed; one stored so by
    an older bot is refused in the mechanism's sentence, and nothing is marked."""
    declared(sf_bot)
    approvals = sf_bot.services.approvals
    lockout = approved_and_run(sf_bot, requested(sf_bot, "user-lockout", {"user_id": SUSPECT_USER_ID}).request)
    request, outcome = approvals.approvals.get(lockout.id) or pytest.fail("the lockout is gone")
    assert outcome.status is RequestStatus.EXECUTED
    approvals.approvals.record(request, outcome.model_copy(update={"prior": {"assignments": {}}}))
    with pytest.raises(UserError, match=r"^The lockout removed no assignment, so there is nothing to put back\.$"):
        approvals.request_revert(lockout.id, CAROL, "cleared")
    assert approvals.approvals.get(lockout.id) == (request, outcome.model_copy(update={"prior": {"assignments": {}}}))


def test_the_panel_reads_each_switch_from_the_org(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    declared(sf_bot)
    incident, lines = sf_bot.services.approvals.panel(1)
    assert incident.number == 1
    assert [line.key for line in lines][:3] == ["org-chat-off", "org-chat-dml-off", "tool-calling-off"]
    first = lines[0]
    assert (first.title, first.effect, first.state) == (
        "orgChatSurfacesEnabled = none",
        "Org Chat completely off",
        "now: orgChatSurfacesEnabled__c = all",
    )
    assert lines[-1].state == "now: scheduled (WAITING)"


def test_a_form_asks_what_its_mechanism_needs(sf_bot: RunningBot) -> None:
    declared(sf_bot)
    provider = sf_bot.services.approvals.form(1, "provider-off", None, None)  # no setting: the org's list
    assert provider.fields[0].options == (("Anthropic_API", "Anthropic API"), ("OpenAI_API", "OpenAI API"))
    from_step = sf_bot.services.approvals.form(1, "user-lockout", "prompt-injection", "revoke-suspect")
    assert (from_step.switch, from_step.scope, from_step.step) == ("user-lockout", "prompt-injection", "revoke-suspect")
    form = sf_bot.services.approvals.form(1, "user-lockout", None, None)
    assert (form.title, form.switch, form.scope, form.step) == (
        "Revoke FlowMason_Org_Chat_User permset",
        "user-lockout",
        None,
        None,
    )
    assert [field.name for field in form.fields] == ["user_id"]
    assert form.incident.number == 1 and form.effect.startswith("Per-user lockout")
    assert sf_bot.services.approvals.form(1, "org-chat-off", None, None).fields == []
    sf_bot.services.walkthrough.steps.start_playbook(1, "cache-wedge")
    step = sf_bot.services.approvals.form(1, None, "cache-wedge", "clear-cache")
    assert (step.switch, step.scope, step.step, step.fields) == (None, "cache-wedge", "clear-cache", [])
    assert step.title == "Heavy hammer: clear all FMLLMCache keys"
    assert sf_bot.services.approvals.target_errors("user-lockout", {"user_id": "001000000000ABC"})["user_id"]
    assert sf_bot.services.approvals.target_errors("user-lockout", {"user_id": "005000000000ABC"}) == {}


def test_a_configured_approver_group_gets_the_card_directly_and_an_empty_one_refuses(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(approvers_usergroup="S0APPROVE", **jwt_settings(fake_org))
    declared(bot)
    bot.fake.add_usergroup("S0APPROVE", [ALICE, MALLORY])
    made = requested(bot)
    assert made.approvers == frozenset({MALLORY}) and made.direct and not made.request.approvers_from_channel
    assert bot.services.approvals.card_view(made.request.id).approvers == [MALLORY]
    bot.fake.add_usergroup("S0APPROVE", [ALICE])
    with pytest.raises(UserError, match=r"^Nobody can approve this request: .*\. Nothing was requested\.$"):
        requested(bot, "tool-calling-off")
    assert [e.kind for e in bot.services.audit.entries(1)] == [AuditKind.REQUESTED]


def test_a_move_the_table_forbids_is_refused(sf_bot: RunningBot) -> None:
    declared(sf_bot)
    request = requested(sf_bot).request
    assert not sf_bot.services.approvals.approvals.move(request, Move.SEND)


def test_a_form_the_org_cannot_fill_or_the_settings_cannot_name_says_why_under_no_field(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(**{**jwt_settings(fake_org), "fm_config_record": None})
    declared(bot)
    assert bot.services.approvals.target_errors("org-chat-off", {}) == {
        "reason": "Which FM_Config record the switches change is not set: set FM_CONFIG_RECORD to its DeveloperName "
        "(Setup → Custom Metadata Types → FM_Config → Manage Records), or change it by hand."
    }
    fake_org.inject("named-credential-setup", "limit")
    with pytest.raises(UserError, match=r"^The bot knows no Named Credential to offer: set PROVIDER_NAMED_CREDENTIALS"):
        bot.services.approvals.form(1, "provider-off", None, None)


def test_a_switch_in_effect_or_already_in_the_org_is_not_requested_again(
    sf_bot: RunningBot, fake_org: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    declared(sf_bot)
    first = approved_and_run(sf_bot, requested(sf_bot).request)
    with pytest.raises(UserError) as held:
        requested(sf_bot)
    assert held.value.people == {"requester": ALICE}
    assert held.value.template == (
        f"“orgChatSurfacesEnabled = none” is already in effect in INC-1: request `{first.id}` by {{requester}} did it. "
        "Use the Revert button on its card to undo it; nothing was requested."
    )
    fake_org.metadata["FM_Config.Default"]["orgChatDmlEnabled__c"] = False  # someone switched it by hand
    with pytest.raises(UserError) as shown:
        requested(sf_bot, "org-chat-dml-off")
    assert str(shown.value) == (
        "The org already shows this change (FM_Config.Default: orgChatDmlEnabled__c = false): nothing to request, "
        "nothing was sent."
    )
    fake_org.inject(r"/Soap/m/", "limit")  # the org cannot be read now: asked anyway, read again before sending
    with caplog.at_level("INFO", logger="bot.services.approvals"):
        assert requested(sf_bot, "org-chat-dml-off").request.switch == "org-chat-dml-off"
    said = [r.getMessage() for r in caplog.records if r.name == "bot.services.approvals"]
    assert said == ["could not read the org before a request: SalesforceRefused"]


def test_a_request_carries_what_its_incident_and_mechanism_say(sf_bot: RunningBot, fake_org: FakeSalesforce) -> None:
    declared(sf_bot, private=True)
    lockout = requested(sf_bot, "user-lockout", {"user_id": "005000000000ABC"}).request
    assert lockout.private and lockout.target == {"user_id": "005000000000ABCAA2"} and lockout.revertible
    assert len(lockout.id) == 10 and int(lockout.id, 16) >= 0  # what a button's value accepts
    cron = requested(sf_bot, "abort-inventory-cron").request
    assert not cron.revertible and not cron.guided  # an aborted job cannot be put back
    provider = requested(sf_bot, "provider-off", {"named_credential": "OpenAI_API"}).request
    assert provider.guided and provider.revertible
    scheduler = sf_bot.services.scheduler
    expiry = Job.fetch(scheduler.job_id("expire", cron.id), connection=scheduler.queue.connection)
    assert expiry.func_name == JobName.EXPIRE_REQUEST and expiry.args == (cron.id,)


def test_a_drill_may_throw_a_switch_twice(bot_factory: Any) -> None:
    drill = bot_factory()
    declared(drill, drill=True)
    assert {line.state for line in drill.services.approvals.panel(1)[1]} == {"a drill: executions are dry runs"}
    approved_and_run(drill, requested(drill).request)  # a dry run: nothing is in effect
    assert requested(drill).request.drill
