"""Who may do what, and from where: the approver policy never falls back, changes need a member of the incident,
drills send nothing, and every button is checked the same way (its incident's channel, or its request's card).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.render.actions import VALUE_TYPES, ActionId
from bot.render.switches import REQUEST_CALLBACK
from handlers.actions import LISTENERS
from tests.conftest import RunningBot, github_settings, jwt_settings
from tests.driver import (
    ALICE,
    BOB,
    approve,
    buttons,
    click,
    declare,
    ephemeral_texts,
    incident_channel,
    message,
    open_phase,
    request,
    request_id,
    text_of,
    unknown_refresh,
)
from tests.fakes.salesforce import SUSPECT_USER_ID, FakeSalesforce
from tests.fakes.trackers import FakeGitHub

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

STRANGER = "U0STRANGER"
APPROVERS = "S0APPROVE1"


def told(bot: RunningBot, sentence: str) -> None:
    bot.fake.wait_until(lambda: any(sentence in text for text in ephemeral_texts(bot)))


def ask(bot: RunningBot, channel: Any, key: str, user: str = ALICE) -> Any:
    """Opens the request form of a switch and submits it; returns the submission's HTTP answer."""
    before = len(bot.fake.open_views(REQUEST_CALLBACK))
    bot.slack.command(f"killswitch {key}", user=user, channel_id=channel.id)
    view = bot.fake.wait_until(
        lambda: len(bot.fake.open_views(REQUEST_CALLBACK)) > before and bot.fake.open_views(REQUEST_CALLBACK)[-1]
    )
    return bot.slack.submit(view, {"reason": "stop it"}, user=user)


@pytest.mark.parametrize("group", [[], None])
def test_an_approver_group_that_yields_nobody_refuses_and_never_falls_back(
    bot_factory: Any, fake_org: FakeSalesforce, group: list[str] | None
) -> None:
    """Between rotations the group is empty (or Slack will not list it): the request is refused, with why; the
    channel's members are not approvers instead."""
    bot = bot_factory(approvers_usergroup=APPROVERS, **jwt_settings(fake_org))
    if group is not None:
        bot.fake.add_usergroup(APPROVERS, group)
    channel = incident_channel(bot)
    assert ask(bot, channel, "org-chat-off").text == ""
    why = (
        "has no members right now (and APPROVERS names nobody)"
        if group is not None
        else "(APPROVERS_USERGROUP) could not be read from Slack"
    )
    told(bot, f"Nobody can approve this request: the approvers group {APPROVERS} {why}. Nothing was requested.")
    assert not [m for m in channel.messages.values() if "switch.approve" in json.dumps(m.get("blocks", []))]


def test_configured_approvers_get_the_card_directly_and_only_they_may_approve(
    bot_factory: Any, fake_org: FakeSalesforce
) -> None:
    bot = bot_factory(approvers_usergroup=APPROVERS, **jwt_settings(fake_org))
    bot.fake.add_usergroup(APPROVERS, [ALICE, BOB])  # the requester is in the group: never her own approver
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    assert "approvers: <@U0BOB0001>" in text_of(card) and "<@U0ALICE01>" not in text_of(card).split("approvers:")[1]
    direct = bot.fake.wait_until(lambda: bot.fake.channels.get(BOB))
    assert any("switch.approve" in json.dumps(m.get("blocks", [])) for m in direct.messages.values())
    assert ALICE not in bot.fake.channels
    bot.slack.click("switch.approve", approval, user="U0CAROL01", channel_id=channel.id, message_ts=card["ts"])
    told(bot, "You are not one of the approvers for this request.")


def test_a_private_incidents_approvers_get_only_a_link(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    """Configured approvers may not be in a private incident's channel: they learn that an approval waits, and
    where; never what the incident or the change is about."""
    bot = bot_factory(approvers_usergroup=APPROVERS, **jwt_settings(fake_org))
    bot.fake.add_usergroup(APPROVERS, [BOB, "U0DAVE001"])
    channel = incident_channel(bot, "declare --private sev1 Acme's data leaked to Globex")
    assert channel.is_private
    _, card = request(bot, channel, "user-lockout", {"user_id": SUSPECT_USER_ID})
    assert "scope unclear" in text_of(card) and SUSPECT_USER_ID in text_of(card)  # the channel's card says it all
    for approver in (BOB, "U0DAVE001"):
        direct = bot.fake.wait_until(lambda approver=approver: bot.fake.channels.get(approver))
        (notice,) = direct.messages.values()
        said = json.dumps(notice)
        link = f"https://fake.slack.com/archives/{channel.id}/p{card['ts'].replace('.', '')}"
        assert notice["text"] == "An approval waits for you"
        assert f"An approval waits for you in a private incident (INC-1): {link}" in text_of(notice)
        for secret in ("Acme", "Globex", "scope unclear", SUSPECT_USER_ID, "lockout", "PermissionSet", "switch."):
            assert secret not in said


def test_drills_never_send_a_change_step_to_the_org(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    channel = declare(bot, "declare --drill sev2 Practice the provider outage")
    recover = open_phase(bot, channel, "provider-outage", "recover")
    click(bot, channel, recover, "step.run", "resume-failed")
    view = bot.fake.wait_until(lambda: bot.fake.open_views("step.run"))[-1]
    assert "PipelineQueueable.resume" in json.dumps(view["blocks"])  # what would run, shown before
    assert bot.slack.submit(view, {}).text == ""
    bot.fake.wait_until(lambda: "Dry run (drill): nothing was sent to the org." in text_of(recover))
    assert fake_org.apex == []
    failed = [r for r in fake_org.rows("PipelineExecution__c") if r["Status__c"] == "Failed"]
    assert len(failed) == 29  # the executions were not resumed


@pytest.mark.parametrize(
    ("what", "sentence"),
    [
        ("run", "Only members of INC-1's channel may run steps that change the org; join it first."),
        ("request", "Only members of INC-1's channel may request a kill switch or a destructive step; join it first."),
        ("resolve", "Only members of INC-1's channel may resolve the incident; join it first."),
        ("severity", "Only members of INC-1's channel may change the severity; join it first."),
        ("role", "Only members of INC-1's channel may assign roles; join it first."),
    ],
)
def test_changing_an_incident_needs_a_member_of_it(
    bot_factory: Any, fake_org: FakeSalesforce, what: str, sentence: str
) -> None:
    """Someone who can see a public incident channel's messages but is not a member is refused, ephemerally."""
    bot = bot_factory(**jwt_settings(fake_org))
    channel = declare(bot, "declare sev2 Anthropic 5xx on all pipelines")
    if what == "run":
        contain = open_phase(bot, channel, "cache-wedge", "contain")
        click(bot, channel, contain, "step.run", "refresh-config", user=STRANGER)
    elif what == "request":
        ask(bot, channel, "org-chat-off", user=STRANGER)
    elif what == "resolve":
        bot.slack.command("resolve", user=STRANGER, channel_id=channel.id)
        view = bot.fake.wait_until(lambda: bot.fake.open_views("incident.resolve"))[-1]
        bot.slack.submit(view, {"root_cause": "A bad deploy."}, user=STRANGER)
    elif what == "severity":
        bot.slack.command("sev 1", user=STRANGER, channel_id=channel.id)
    else:
        bot.slack.command(f"role scribe <@{STRANGER}>", user=STRANGER, channel_id=channel.id)
    told(bot, sentence)
    incident = bot.services.incidents.in_channel(channel.id)
    assert incident is not None and incident.is_open and incident.severity.value == 2 and incident.scribe is None
    assert fake_org.apex == []


def test_the_responders_group_is_asked_too(bot_factory: Any) -> None:
    bot = bot_factory(responders_usergroup="S0ONCALL01")
    bot.fake.add_usergroup("S0ONCALL01", [ALICE])
    channel = declare(bot, "declare sev3 Slow dashboards")
    channel.members.add(BOB)  # in the channel, not on call
    bot.slack.command("sev 2", user=BOB, channel_id=channel.id)
    told(bot, "Only members of the responders group may change the severity in INC-1.")
    bot.slack.command("sev 2", user=ALICE, channel_id=channel.id)
    told(bot, "INC-1 is now SEV-2")


def test_every_action_has_exactly_one_listener() -> None:
    assert set(LISTENERS) == set(ActionId) == set(VALUE_TYPES)


def rendered_elements(bot: RunningBot) -> list[dict[str, Any]]:
    """Every interactive element the bot has shown: in messages, and in ephemeral answers (the panel)."""
    messages = [m for channel in bot.fake.channels.values() for m in channel.messages.values()]
    found = []
    for msg in [*messages, *bot.fake.responses]:
        for block in msg.get("blocks") or []:
            elements = [*block.get("elements", []), *([block["accessory"]] if "accessory" in block else [])]
            found += [element for element in elements if "action_id" in element]
    return found


def test_every_button_is_refused_from_another_channel(
    bot_factory: Any, fake_org: FakeSalesforce, github: FakeGitHub
) -> None:
    """One check for every button: each element the bot rendered in a full incident, clicked from another
    channel (or, for a request, from a message that is not its card), is refused and changes nothing."""
    bot = bot_factory(
        inventory_harvester_runbook_url="https://wiki.example/harvester",
        **jwt_settings(fake_org),
        **github_settings(github),
    )
    channel = incident_channel(bot, "declare --llm sev2 Anthropic 5xx on all pipelines")
    open_phase(bot, channel, "prompt-injection", "diagnose")  # a Next phase button
    bot.fake.wait_until(  # and its security suggestion (Raise to SEV-1, Declare a private incident), posted after it
        lambda: any(m.get("text") == "Suspected exfiltration" for m in channel.messages.values())
    )
    open_phase(bot, channel, "rate-limit-storm", "diagnose")  # a decision
    open_phase(bot, channel, "inventory-harvester", "discovery")  # a link
    unknown_refresh(bot, channel, fake_org)  # a change sent without an answer: Checked…
    for index in range(16):
        bot.slack.command(f"note Note {index}", channel_id=channel.id)
    bot.fake.wait_until(lambda: sum("Noted" in text for text in ephemeral_texts(bot)) == 16)
    bot.slack.command("timeline", channel_id=channel.id)  # two pages
    bot.fake.wait_until(
        lambda: any("timeline.page" in json.dumps(m.get("blocks", [])) for m in channel.messages.values())
    )
    bot.slack.command("killswitch", channel_id=channel.id)  # the panel
    bot.fake.wait_until(lambda: any(r.get("text") == "Kill switches" for r in bot.fake.responses))
    bot.slack.command("action Cache the provider list", channel_id=channel.id)
    bot.fake.wait_until(lambda: bot.services.lifecycle.store.actions(1))
    bot.slack.command("actions", channel_id=channel.id)  # the list, with its Export button
    bot.fake.wait_until(lambda: any(r.get("text") == "Action items of INC-1" for r in bot.fake.responses))
    approval, card = request(bot, channel, "org-chat-off")
    elsewhere = bot.fake.add_channel("random", members={ALICE, BOB})
    clicked = set()
    for element in rendered_elements(bot):
        action = element["action_id"]
        value = element.get("value") or element["options"][0]["value"]
        before = len(bot.fake.responses)
        bot.slack.click(action, value, user=BOB, channel_id=elsewhere.id, message_ts=card["ts"])
        answer = bot.fake.wait_until(lambda: bot.fake.responses[before:])  # noqa: B023
        assert re.search(r"belongs to INC-1's channel|not on one of INC-1's request cards", answer[0]["text"]), action
        clicked.add(action.split(":")[0])
    assert clicked == {a.value for a in ActionId} - {"switch.revert"}  # no card is executed yet
    assert "Approved by" not in text_of(card) and not bot.services.incidents.store.get(1).acknowledged_at  # type: ignore[union-attr]
    assert bot.services.approvals.get(request_id(approval))[1].status.value == "pending"
    bot.run_jobs()
    assert github.received == 0  # nothing was exported


def test_a_button_naming_an_incident_that_does_not_exist_is_refused(bot: RunningBot) -> None:
    """A signed click whose value names incident 99 (there is one incident): the incident read with the replay
    check is missing, and the click is refused with that, changing nothing of the incident that exists."""
    channel = declare(bot)
    checklist = next(m for m in channel.messages.values() if "First five minutes" in m.get("text", ""))
    done = next(e for e in buttons(checklist) if e["action_id"] == "step.done")
    forged = json.dumps({**json.loads(done["value"]), "incident": 99})
    bot.slack.click("step.done", forged, user=ALICE, channel_id=channel.id, message_ts=checklist["ts"])
    bot.fake.wait_until(lambda: "There is no incident 99." in ephemeral_texts(bot))
    bot.wait_quiet()
    snapshot = bot.services.walkthrough.steps.snapshot(1)
    assert all(state.status.value == "pending" for state in snapshot.states.values())


def test_an_approval_is_refused_from_a_message_that_is_not_its_card(bot_factory: Any, fake_org: FakeSalesforce) -> None:
    bot = bot_factory(**jwt_settings(fake_org))
    channel = incident_channel(bot)
    approval, card = request(bot, channel, "org-chat-off")
    checklist = message(bot, channel, "first-five")
    bot.slack.click("switch.approve", approval, user=BOB, channel_id=channel.id, message_ts=checklist["ts"])
    told(bot, "That button is not on one of INC-1's request cards.")
    approve(bot, channel, card, approval)  # from its card, it works
