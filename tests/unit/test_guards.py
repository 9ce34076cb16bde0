"""The click guard and the replay guard on their own: what a click must carry to reach a listener, where it must
come from, and what a replayed or failing request gets. The services they ask are stand-ins holding incidents and
cards; the same guards over signed HTTP are in `test_hostile.py`, `test_access.py` and `test_faults.py`."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import redis
from slack_bolt import BoltRequest, BoltResponse

from bot.core.incident import Incident, IncidentStatus
from bot.render.actions import ActionId, RequestRef, StaleButton, StepRef, encode
from bot.services.errors import UserError
from handlers.guards import READ_WITH_REPLAY_CHECK, REPLAY_WINDOW_SECONDS, answer_failures, clicked, replay_guard
from tests.builders import an_incident
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

INCIDENT = an_incident(number=7, channel_id="C0INC7", status=IncidentStatus.INVESTIGATING)
REQUEST = "0123456789"


class Incidents:
    """The incident service as the guards use it: one incident, and every delivery it was asked about."""

    def __init__(self, fails: bool = False) -> None:
        self.seen: set[str] = set()
        self.asked: list[tuple[str, int, int | None]] = []
        self.fails = fails

    def get(self, number: int) -> Incident:
        if number != INCIDENT.number:
            raise UserError(f"There is no incident {number}.")
        return INCIDENT

    def refuse_missing(self, number: int, found: Incident | None) -> Incident:
        if found is None:
            raise UserError(f"There is no incident {number}.")
        return found

    def first_delivery(self, delivery: str, seconds: int, about: int | None) -> tuple[bool, Incident | None]:
        if self.fails:
            raise redis.ConnectionError("gone")
        self.asked.append((delivery, seconds, about))
        fresh = delivery not in self.seen
        self.seen.add(delivery)
        return fresh, (INCIDENT if about == INCIDENT.number else None)


class Approvals:
    def __init__(self, incident: int = 7, cards: tuple[tuple[str, str], ...] = (("C0INC7", "1.0001"),)) -> None:
        self.incident, self._cards = incident, list(cards)

    def get(self, approval_id: str) -> tuple[Any, None]:
        return type("Request", (), {"incident": self.incident})(), None

    def cards(self, approval_id: str) -> list[tuple[str, str]]:
        return self._cards


class Services:
    def __init__(self, incidents: Incidents | None = None, approvals: Approvals | None = None) -> None:
        self.incidents = incidents or Incidents()
        self.approvals = approvals or Approvals()


def a_click(
    action: ActionId = ActionId.STEP_DONE, value: str | None = None, channel: str = "C0INC7", **more: Any
) -> dict[str, Any]:
    raw = value if value is not None else encode(action, StepRef(incident=7, scope="first-five", step="ack"))
    return {
        "type": "block_actions",
        "user": {"id": "U0ALICE01"},
        "channel": {"id": channel},
        "container": {"message_ts": "1.0001", "channel_id": channel},
        "actions": [{"action_id": action.value, "value": raw}],
        **more,
    }


def test_a_click_that_passes_carries_what_it_names_and_who_clicked_where() -> None:
    body = a_click(
        message={"text": "checklist"}, trigger_id="1.2.trigger", response_url="http://127.0.0.1:1/response/1"
    )
    click = clicked(Services(), body, {})  # type: ignore[arg-type]
    assert click.action is ActionId.STEP_DONE and click.value == StepRef(incident=7, scope="first-five", step="ack")
    assert click.incident == INCIDENT and click.actor == "U0ALICE01"
    assert (click.channel, click.message_ts, click.message_text) == ("C0INC7", "1.0001", "checklist")
    assert (click.trigger_id, click.response_url) == ("1.2.trigger", "http://127.0.0.1:1/response/1")
    bare = clicked(Services(), a_click(), {})  # type: ignore[arg-type]
    assert (bare.message_text, bare.trigger_id, bare.response_url) == ("", "", "")
    in_container = a_click()
    del in_container["channel"]  # a click in a modal's message carries its channel in the container only
    assert clicked(Services(), in_container, {}).channel == "C0INC7"  # type: ignore[arg-type]
    both = a_click(container={"message_ts": "1.0001", "channel_id": "C0ELSEWHERE"})
    assert clicked(Services(), both, {}).channel == "C0INC7"  # type: ignore[arg-type]  # the channel's own id first


def test_a_menu_choice_is_read_from_its_selected_option() -> None:
    raw = encode(ActionId.STEP_DONE, StepRef(incident=7, scope="first-five", step="ack"))
    body = a_click()
    body["actions"] = [{"action_id": "step.done:menu-1", "selected_option": {"value": raw}, "value": "ignored"}]
    assert clicked(Services(), body, {}).value == StepRef(incident=7, scope="first-five", step="ack")  # type: ignore[arg-type]


def test_a_click_from_another_channel_or_about_no_incident_is_refused() -> None:
    with pytest.raises(UserError, match=r"^That button belongs to INC-7's channel\.$"):
        clicked(Services(), a_click(channel="C0ELSEWHERE"), {})  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"^That button belongs to INC-7's channel\.$"):
        clicked(Services(), a_click(channel="", container={}), {})  # type: ignore[arg-type]
    other = encode(ActionId.STEP_DONE, StepRef(incident=8, scope="first-five", step="ack"))
    with pytest.raises(UserError, match=r"^There is no incident 8\.$"):
        clicked(Services(), a_click(value=other), {})  # type: ignore[arg-type]
    for forged in ("", "{}", '{"incident": 7}', "not json"):
        with pytest.raises(StaleButton):
            clicked(Services(), a_click(value=forged), {})  # type: ignore[arg-type]
    with pytest.raises(StaleButton):
        clicked(Services(), {**a_click(), "actions": [{"action_id": "nothing.here", "value": "{}"}]}, {})  # type: ignore[arg-type]


def test_the_incident_read_with_the_replay_check_is_used_and_its_absence_refused() -> None:
    moved_on = INCIDENT.model_copy(update={"title": "as read with the replay check"})
    click = clicked(Services(), a_click(), {READ_WITH_REPLAY_CHECK: moved_on})  # type: ignore[arg-type]
    assert click.incident.title == "as read with the replay check"
    with pytest.raises(UserError, match=r"^There is no incident 7\.$"):
        clicked(Services(), a_click(), {READ_WITH_REPLAY_CHECK: None})  # type: ignore[arg-type]


def test_an_approval_click_must_come_from_one_of_its_own_cards() -> None:
    value = encode(ActionId.SWITCH_APPROVE, RequestRef(incident=7, request=REQUEST))
    dm = a_click(ActionId.SWITCH_APPROVE, value, channel="D0BOB")
    dm["container"]["message_ts"] = "2.0002"
    cards = (("C0INC7", "1.0001"), ("D0BOB", "2.0002"))
    assert clicked(Services(approvals=Approvals(cards=cards)), dm, {}).channel == "D0BOB"  # type: ignore[arg-type]
    refused = r"^That button is not on one of INC-7's request cards\.$"
    with pytest.raises(UserError, match=refused):  # from the incident's channel, but not from a card
        clicked(
            Services(approvals=Approvals(cards=(("D0BOB", "2.0002"),))), a_click(ActionId.SWITCH_APPROVE, value), {}
        )  # type: ignore[arg-type]
    with pytest.raises(UserError, match=refused):  # a card, but of another incident's request
        clicked(Services(approvals=Approvals(incident=8, cards=cards)), dm, {})  # type: ignore[arg-type]


def signed(body: dict[str, Any] | str, timestamp: str = "1795615200", signature: str = "v0=abc") -> BoltRequest:
    raw = body if isinstance(body, str) else "payload=" + json.dumps(body)
    headers = {"x-slack-request-timestamp": timestamp, "x-slack-signature": signature}
    if isinstance(body, str):
        headers["content-type"] = "application/json"
    else:
        headers["content-type"] = "application/x-www-form-urlencoded"
    return BoltRequest(body=raw, headers=headers)


def passed() -> BoltResponse:
    return BoltResponse(status=200, body="passed")


def test_a_replayed_request_is_refused_and_a_clicks_incident_is_read_with_the_check() -> None:
    incidents = Incidents()
    guard = replay_guard(Services(incidents))  # type: ignore[arg-type]
    first = signed(a_click())
    assert guard(first, BoltResponse(status=200), passed).body == "passed"
    assert incidents.asked == [("1795615200:v0=abc", REPLAY_WINDOW_SECONDS, 7)]
    assert first.context[READ_WITH_REPLAY_CHECK] == INCIDENT
    replayed = guard(signed(a_click()), BoltResponse(status=200), passed)
    assert (replayed.status, replayed.body) == (401, "")
    assert guard(signed(a_click(), signature="v0=def"), BoltResponse(status=200), passed).body == "passed"  # a retry
    command = signed('{"type": "event_callback"}', timestamp="1795615300")
    assert guard(command, BoltResponse(status=200), passed).body == "passed"
    assert incidents.asked[-1] == ("1795615300:v0=abc", REPLAY_WINDOW_SECONDS, None)
    assert READ_WITH_REPLAY_CHECK not in command.context  # not a click: nothing read for the guard
    unsigned = BoltRequest(body='{"type": "x"}', headers={"content-type": "application/json"})
    assert guard(unsigned, BoltResponse(status=200), passed).body == "passed"
    assert incidents.asked[-1][0] == ":"


def test_a_click_whose_value_does_not_decode_is_let_through_to_the_guard_that_refuses_it() -> None:
    incidents = Incidents()
    guard = replay_guard(Services(incidents))  # type: ignore[arg-type]
    for n, body in enumerate(
        [a_click(value="not json"), {**a_click(), "actions": []}, {**a_click(), "actions": [{"value": "{}"}]}]
    ):
        assert guard(signed(body, timestamp=str(n)), BoltResponse(status=200), passed).body == "passed"
    assert [about for _, _, about in incidents.asked] == [None, None, None]


def test_without_redis_the_replay_check_is_skipped_and_said(caplog: pytest.LogCaptureFixture) -> None:
    guard = replay_guard(Services(Incidents(fails=True)))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="handlers.guards"):
        assert guard(signed(a_click()), BoltResponse(status=200), passed).body == "passed"
    assert [r.getMessage() for r in caplog.records] == ["replay check skipped: Redis is unreachable"]


def test_socket_mode_has_no_signature_to_replay() -> None:
    incidents = Incidents()
    guard = replay_guard(Services(incidents))  # type: ignore[arg-type]
    request = BoltRequest(body={"type": "block_actions"}, mode="socket_mode")
    assert guard(request, BoltResponse(status=200), passed).body == "passed" and incidents.asked == []


def test_a_failing_listener_is_answered_with_a_reference_never_a_500(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    url = fake_slack.new_response_url()
    with caplog.at_level(logging.WARNING, logger="handlers.guards"):
        answered = answer_failures(KeyError("boom"), {"response_url": url}, BoltResponse(status=500))
    assert answered is not None and (answered.status, answered.body) == (200, "")
    told = fake_slack.responses[-1]
    reference = told["text"].split("`")[1]
    assert told["text"] == (
        f":warning: Something went wrong on our side (reference `{reference}`); the request stopped there."
    )
    assert told["response_type"] == "ephemeral" and len(reference) == 8
    failed = caplog.records[0]
    assert failed.getMessage() == f"listener failed, reference {reference}: KeyError" and failed.exc_info
    assert answer_failures(KeyError("boom"), {}, None) is None  # nothing to answer: Bolt's own response stands
    with caplog.at_level(logging.WARNING, logger="handlers.guards"):
        answer_failures(KeyError("boom"), {"response_url": "http://127.0.0.1:1/response/1"}, None)
    ours = [r.getMessage() for r in caplog.records if r.name == "handlers.guards"]
    unreached = ours[-2].removeprefix("listener failed, reference ").removesuffix(": KeyError")
    assert ours[-1] == f"could not tell the person about reference {unreached}"
    assert len(unreached) == 8 and unreached != reference
