"""The approval workflow's rules as plain code: moves, approvers, typed values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.approval import (
    MOVES,
    SENT,
    Action,
    ApprovalRequest,
    Move,
    Outcome,
    RequestStatus,
    allowed_from,
    approvals_run,
    approvers_for,
    in_effect,
    leads_to,
)

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

AT = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


def test_nothing_sent_ever_goes_back_to_approved_or_pending() -> None:
    for move, (froms, to) in MOVES.items():
        if froms & SENT:
            assert to not in (RequestStatus.APPROVED, RequestStatus.PENDING, RequestStatus.PREPARING), move
    assert allowed_from(Move.RELEASE) == {RequestStatus.PREPARING}
    assert leads_to(Move.NO_ANSWER) is RequestStatus.UNKNOWN
    assert allowed_from(Move.APPLIED) == {RequestStatus.SENDING, RequestStatus.UNKNOWN}
    assert allowed_from(Move.CANCEL).isdisjoint(SENT)  # resolving cancels only what was not sent


def test_a_decision_is_made_once() -> None:
    for move in (Move.APPROVE, Move.DENY, Move.EXPIRE):
        assert allowed_from(move) == {RequestStatus.PENDING}
    assert {status for status in RequestStatus if status.decided} == set(RequestStatus) - {RequestStatus.PENDING}


@pytest.mark.parametrize(
    ("users", "group", "members", "channel", "approvers", "why"),
    [
        (frozenset(), None, None, frozenset({"A", "B", "C"}), {"B", "C"}, None),
        (frozenset(), None, None, frozenset({"A"}), set(), "nobody else is in the incident channel yet"),
        (frozenset(), "S1", frozenset({"B"}), frozenset({"A", "C"}), {"B"}, None),
        (
            frozenset(),
            "S1",
            frozenset(),
            frozenset({"A", "C"}),
            set(),
            "the approvers group S1 has no members right now (and APPROVERS names nobody)",
        ),
        (
            frozenset(),
            "S1",
            None,
            frozenset({"A", "C"}),
            set(),
            "the approvers group S1 (APPROVERS_USERGROUP) could not be read from Slack",
        ),
        (
            frozenset({"A"}),
            None,
            None,
            frozenset({"A", "C"}),
            set(),
            "the approvers policy names nobody but you right now",
        ),
        (frozenset({"D"}), "S1", frozenset(), frozenset({"A", "C"}), {"D"}, None),
    ],
)
def test_a_policy_never_falls_back_to_the_channel(
    users: frozenset[str],
    group: str | None,
    members: frozenset[str] | None,
    channel: frozenset[str],
    approvers: set[str],
    why: str | None,
) -> None:
    found, reason = approvers_for("A", users, group, members, channel)
    assert found == approvers
    assert reason == why


def _request(
    request_id: str,
    status: RequestStatus,
    *,
    switch: str = "provider-off",
    action: Action = Action.APPLY,
    drill: bool = False,
    reverted_by: str | None = None,
) -> tuple[ApprovalRequest, Outcome]:
    at = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    request = ApprovalRequest(
        id=request_id,
        incident=1,
        title="Deactivate",
        mechanism="named_credential",
        switch=switch,
        action=action,
        plan=["…"],
        requester="U1",
        reason="down",
        created_at=at,
        expires_at=at,
        drill=drill,
    )
    return request, Outcome(status=status, reverted_by=reverted_by)


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ({"a": _request("a", RequestStatus.EXECUTED)}, "a"),
        ({"a": _request("a", RequestStatus.GUIDED)}, "a"),  # a person is switching it off now
        ({"a": _request("a", RequestStatus.UNKNOWN)}, "a"),  # it may have reached the org
        ({"a": _request("a", RequestStatus.PENDING)}, None),  # nothing sent yet
        ({"a": _request("a", RequestStatus.FAILED)}, None),
        ({"a": _request("a", RequestStatus.EXECUTED, switch="org-chat-off")}, None),  # another switch
        ({"a": _request("a", RequestStatus.EXECUTED, drill=True)}, None),  # a drill sends nothing
        ({"a": _request("a", RequestStatus.EXECUTED, action=Action.REVERT)}, None),  # a revert is not the switch
        (
            {
                "a": _request("a", RequestStatus.EXECUTED, reverted_by="r"),
                "r": _request("r", RequestStatus.EXECUTED, action=Action.REVERT),
            },
            None,  # reverted
        ),
        (
            {
                "a": _request("a", RequestStatus.EXECUTED, reverted_by="r"),
                "r": _request("r", RequestStatus.PENDING, action=Action.REVERT),
            },
            "a",  # the revert is only asked for
        ),
        # what comes before the one in effect is passed over, whatever it is
        (
            {
                "o": _request("o", RequestStatus.EXECUTED, switch="org-chat-off"),
                "a": _request("a", RequestStatus.EXECUTED),
            },
            "a",
        ),
        ({"p": _request("p", RequestStatus.PENDING), "a": _request("a", RequestStatus.EXECUTED)}, "a"),
        (
            {
                "a": _request("a", RequestStatus.EXECUTED, reverted_by="r"),
                "r": _request("r", RequestStatus.EXECUTED, action=Action.REVERT),
                "b": _request("b", RequestStatus.EXECUTED),
            },
            "b",  # thrown again after its revert ran
        ),
    ],
)
def test_a_switch_is_in_effect_until_a_revert_ran(
    requests: dict[str, tuple[ApprovalRequest, Outcome]], expected: str | None
) -> None:
    found = in_effect(requests, "provider-off")
    assert (found.id if found else None) == expected


def test_approvals_run_with_the_org_and_always_in_a_drill() -> None:
    assert approvals_run(org_connected=True, drill=False)
    assert approvals_run(org_connected=False, drill=True)
    assert approvals_run(org_connected=True, drill=True)
    assert not approvals_run(org_connected=False, drill=False)
