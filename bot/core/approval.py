"""Two-person approval: a request to change production, its decision, its one execution and its verification.

The states and the moves between them are plain data here; the store applies a move atomically (one Redis
script compares the status and sets the new one), so two clicks or two workers can never both win. The rule
that matters most is in the table: once anything may have reached the org (SENDING and after), no move leads
back to APPROVED, so nothing is ever sent twice for one approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class RequestStatus(StrEnum):
    PENDING = "pending"  # waiting for a second person
    APPROVED = "approved"  # decided; the execution is queued
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # the incident was resolved before anything was sent
    PREPARING = "preparing"  # the execution reads the values before the change; nothing is sent yet
    SENDING = "sending"  # the change is on its way: from here on it is never sent again
    UNKNOWN = "unknown"  # sent without an answer: reading the org back settles it
    APPLIED = "applied"  # the org took it; the finishing steps (such as the refresh) come next
    EXECUTED = "executed"  # done; see the verification
    FAILED = "failed"  # the org refused it, or reading back showed it did not apply: nothing changed
    DRY_RUN = "dry run"  # a drill: nothing was sent
    GUIDED = "guided"  # a person changes it in Setup; the bot reads the org until it shows the change
    UNCHANGED = "already in place"  # the org already showed the change before anything was sent: nothing was sent

    @property
    def decided(self) -> bool:
        return self is not RequestStatus.PENDING

    @property
    def sent(self) -> bool:
        """Something may have reached the org: the request can never go back to approved."""
        return self in SENT


SENT = frozenset({RequestStatus.SENDING, RequestStatus.UNKNOWN, RequestStatus.APPLIED, RequestStatus.EXECUTED})
# Waiting for its execution: what the worker's sweep sends on if its queued job was lost.
UNSENT = frozenset({RequestStatus.APPROVED, RequestStatus.PREPARING})
# A revert that ended without changing the org: the switch it was for may be asked to revert again.
CHANGED_NOTHING = frozenset(
    {RequestStatus.DENIED, RequestStatus.EXPIRED, RequestStatus.CANCELLED, RequestStatus.FAILED}
)


class Verification(StrEnum):
    PENDING = "pending"  # not read back yet (or the read-back failed and is retried)
    VERIFIED = "verified"
    NOT_VERIFIED = "not verified"
    NOT_CHECKED = "not checked"  # nothing the bot can read back (anonymous Apex)


class Move(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    EXPIRE = "expire"
    CANCEL = "cancel"
    PREPARE = "prepare"
    RELEASE = "release"
    ABANDON = "abandon"  # the state before the change could not be read: nothing was sent
    SEND = "send"
    NO_ANSWER = "no answer"
    REFUSED = "refused"
    APPLIED = "applied"
    NOT_APPLIED = "not applied"
    FINISHED = "finished"
    DRY_RUN = "dry run"
    GUIDE = "guide"
    SEEN = "seen"  # a guided change showed in the org
    UNCHANGED = "unchanged"  # read before sending: the org already shows the change, so nothing is sent


_S = RequestStatus
# Each move: the statuses it may start from, and the status it leads to.
MOVES: dict[Move, tuple[frozenset[RequestStatus], RequestStatus]] = {
    Move.APPROVE: (frozenset({_S.PENDING}), _S.APPROVED),
    Move.DENY: (frozenset({_S.PENDING}), _S.DENIED),
    Move.EXPIRE: (frozenset({_S.PENDING}), _S.EXPIRED),
    Move.CANCEL: (frozenset({_S.PENDING, _S.APPROVED, _S.PREPARING, _S.GUIDED}), _S.CANCELLED),
    Move.PREPARE: (frozenset({_S.APPROVED, _S.PREPARING}), _S.PREPARING),
    Move.RELEASE: (frozenset({_S.PREPARING}), _S.APPROVED),
    Move.ABANDON: (frozenset({_S.PREPARING}), _S.FAILED),
    Move.SEND: (frozenset({_S.PREPARING}), _S.SENDING),
    Move.NO_ANSWER: (frozenset({_S.SENDING}), _S.UNKNOWN),
    Move.REFUSED: (frozenset({_S.SENDING}), _S.FAILED),
    Move.APPLIED: (frozenset({_S.SENDING, _S.UNKNOWN}), _S.APPLIED),
    Move.NOT_APPLIED: (frozenset({_S.UNKNOWN}), _S.FAILED),
    Move.FINISHED: (frozenset({_S.APPLIED}), _S.EXECUTED),
    Move.DRY_RUN: (frozenset({_S.PREPARING}), _S.DRY_RUN),
    Move.GUIDE: (frozenset({_S.PREPARING}), _S.GUIDED),
    Move.SEEN: (frozenset({_S.GUIDED}), _S.EXECUTED),
    Move.UNCHANGED: (frozenset({_S.PREPARING}), _S.UNCHANGED),
}


def allowed_from(move: Move) -> frozenset[RequestStatus]:
    return MOVES[move][0]


def leads_to(move: Move) -> RequestStatus:
    return MOVES[move][1]


class Refusal(StrEnum):
    """Why a decision was refused; each value is the sentence the person who clicked is told."""

    MISSING = "That request no longer exists."
    SELF = "You made this request: a second person has to approve it."
    UNAUTHORIZED = "You are not one of the approvers for this request."
    EXPIRED = "This request has expired; request it again if it is still needed."
    CLOSED = "The incident is resolved; nothing more runs for it."
    DECIDED = "This request was already decided."
    GUEST = "Guests of the workspace cannot approve changes to production."
    NOT_RESPONDER = "Only members of the responders group may approve this request."


class Action(StrEnum):
    APPLY = "apply"
    REVERT = "revert"


# A value as the org has it: a checkbox is a bool, a number a float, text a str, an empty field None.
Value = bool | float | str | None


class ApprovalRequest(BaseModel):
    """What is asked. Its decision and execution live beside it in the store, changed only atomically."""

    model_config = ConfigDict(frozen=True)
    id: str
    incident: int
    title: str
    mechanism: str  # the mechanism that executes it (fm_config, permission_sets, cron_abort, apex…)
    switch: str | None = None  # a kill-switch key, or None for a destructive step
    scope: str | None = None  # the playbook step that asked, if any
    step: str | None = None
    target: dict[str, str] = {}  # what the form named: a user Id, a named credential, a value
    change: dict[str, Any] = {}  # what the mechanism sends, as it needs it (typed values, the Apex…)
    action: Action = Action.APPLY
    reverts: str | None = None
    plan: list[str]  # exactly what will be sent to the org, in order
    requester: str
    reason: str
    created_at: datetime
    expires_at: datetime
    drill: bool = False
    private: bool = False  # a private incident's: its words stay out of logs
    revertible: bool = False
    guided: bool = False  # a person makes the change in Setup; the bot verifies it
    approvers_from_channel: bool = False  # no approver policy is set: the incident channel's other members


class Outcome(BaseModel):
    """The decision, execution and verification of a request, as the card shows them."""

    model_config = ConfigDict(frozen=True)
    status: RequestStatus = RequestStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    result: str = ""
    error: str = ""
    verification: Verification = Verification.PENDING
    observed: str = ""
    prior: dict[str, Any] = {}
    reverted_by: str | None = None  # the revert asked for it, unless that revert ended changing nothing
    attempts: int = 0
    sent_at: datetime | None = None  # when the change was sent (the org may still apply it a while after)

    @property
    def revertible_now(self) -> bool:
        """Executed (or applied), with the prior state kept, and no revert asked yet."""
        return self.status in (RequestStatus.EXECUTED, RequestStatus.APPLIED) and not self.reverted_by


POSSIBLY_APPLIED = frozenset(
    {
        RequestStatus.SENDING,
        RequestStatus.UNKNOWN,
        RequestStatus.APPLIED,
        RequestStatus.EXECUTED,
        RequestStatus.GUIDED,
    }
)


def approvals_run(org_connected: bool, drill: bool) -> bool:
    """Kill switches and destructive steps run (behind two people) when the bot can reach the org, and always in
    a drill, whose executions are dry runs."""
    return org_connected or drill


def in_effect(requests: Mapping[str, tuple[ApprovalRequest, Outcome]], switch: str) -> ApprovalRequest | None:
    """A request of `switch` that may be in effect in the org: sent (or handed to a person), not a drill, and not
    undone by a revert that ran. None when there is none."""
    for request, outcome in requests.values():
        if request.switch != switch or request.action is not Action.APPLY or request.drill:
            continue
        if outcome.status not in POSSIBLY_APPLIED:
            continue
        revert = requests.get(outcome.reverted_by) if outcome.reverted_by else None
        if revert is not None and revert[1].status in (RequestStatus.EXECUTED, RequestStatus.APPLIED):
            continue
        return request
    return None


def approvers_for(
    requester: str,
    users: frozenset[str],
    group: str | None,
    group_members: frozenset[str] | None,
    channel_members: frozenset[str],
) -> tuple[frozenset[str], str | None]:
    """Who may approve (never the requester), fixed when the request is made; or why nobody may.

    A configured policy (APPROVERS and/or APPROVERS_USERGROUP) is the only source when it is set: a group that
    is empty right now, or that Slack would not list, gives nobody; it never falls back to the channel.
    Without a policy: the incident channel's other members. `group_members` is None when Slack refused.
    """
    if users or group:
        if group and group_members is None:
            return frozenset(), f"the approvers group {group} (APPROVERS_USERGROUP) could not be read from Slack"
        named = users | (group_members or frozenset())
        if not named:
            return frozenset(), f"the approvers group {group} has no members right now (and APPROVERS names nobody)"
        approvers = named - {requester}
        if not approvers:
            return frozenset(), "the approvers policy names nobody but you right now"
        return approvers, None
    approvers = channel_members - {requester}
    return approvers, None if approvers else "nobody else is in the incident channel yet"
