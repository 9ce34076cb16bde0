"""Who may change an incident, without I/O: the core's rule, and `Access`, which asks the workspace (a stand-in
for the Slack port that counts what it is asked) and keeps its answers a little while."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.access import Privilege, may_act, refusal
from bot.core.approval import Refusal
from bot.core.incident import Incident, IncidentStatus
from bot.core.severity import Severity
from bot.services import access
from bot.services.access import GROUP_SECONDS, GUEST_SECONDS, MEMBERS_SECONDS, Access
from bot.services.errors import UserError
from bot.services.ports import WorkspaceError

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

INCIDENT = Incident(
    number=7,
    title="Org Chat down",
    severity=Severity.SEV2,
    status=IncidentStatus.INVESTIGATING,
    team_id="T0FLOWMSN",
    declared_by="U0ALICE",
    declared_at=datetime(2026, 12, 5, 9, 0, tzinfo=UTC),
    commander="U0ALICE",
    channel_id="C0INC7",
)


class CountingWorkspace:
    """Who is where, as the workspace would say it, and how many times each was asked."""

    def __init__(self, members: set[str], group: list[str] | None = None, guests: frozenset[str] = frozenset()):
        self.members = members
        self.group = group
        self.guests = guests
        self.asked: list[str] = []

    def channel_members(self, channel: str) -> set[str]:
        self.asked.append(f"members:{channel}")
        return set(self.members)

    def usergroup_members(self, usergroup: str) -> list[str]:
        self.asked.append(f"group:{usergroup}")
        if self.group is None:
            raise WorkspaceError("usergroups.users.list", "missing_scope")
        return list(self.group)

    def is_guest(self, user: str) -> bool:
        self.asked.append(f"guest:{user}")
        return user in self.guests


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The monotonic clock `Access` keeps its answers by, moved by the test."""
    now = [1000.0]
    monkeypatch.setattr(access.time, "monotonic", lambda: now[0])
    return now


def access_to(workspace: CountingWorkspace, group: str | None = None) -> Access:
    return Access(workspace, group)  # type: ignore[arg-type]


# ----- the rule


def test_the_rule_says_why_in_one_sentence_guests_first() -> None:
    members = {"U0ALICE", "U0GUEST"}
    act = Privilege.ACT
    assert (
        refusal(INCIDENT, act, "U0GUEST", members, None, True)
        == "Guests of the workspace may not change this incident."
    )
    assert (
        refusal(INCIDENT, act, "U0MALLORY", members, None, False)
        == "Only members of INC-7's channel may change this incident; join it first."
    )
    assert (
        refusal(INCIDENT, Privilege.REQUEST, "U0ALICE", members, {"U0BOB"}, False)
        == "Only members of the responders group may request a kill switch or a destructive step in INC-7."
    )
    assert refusal(INCIDENT, act, "U0ALICE", members, {"U0ALICE"}, False) is None
    assert refusal(INCIDENT, act, "U0ALICE", members, None, False) is None  # no group: the channel is enough
    assert refusal(INCIDENT, act, "U0ALICE", members, set(), False) is not None  # an empty group admits no one


def test_who_may_act_is_the_channel_within_the_group() -> None:
    assert may_act({"U0ALICE", "U0BOB"}, None) == {"U0ALICE", "U0BOB"}
    assert may_act({"U0ALICE", "U0BOB"}, {"U0BOB", "U0CAROL"}) == {"U0BOB"}


# ----- Access: the rule with what the workspace says


def test_a_member_may_act_and_others_are_refused_with_the_rules_sentence(clock: list[float]) -> None:
    workspace = CountingWorkspace({"U0ALICE"}, group=["U0ALICE"], guests=frozenset({"U0GUEST"}))
    checks = access_to(workspace, "S0RESPOND")
    checks.require(INCIDENT, "U0ALICE", Privilege.RESOLVE)
    with pytest.raises(UserError, match=r"^Only members of INC-7's channel may resolve the incident; join it first\.$"):
        checks.require(INCIDENT, "U0MALLORY", Privilege.RESOLVE)
    with pytest.raises(UserError, match=r"^Guests of the workspace may not assign roles\.$"):
        checks.require(INCIDENT, "U0GUEST", Privilege.ROLES)
    workspace.members.add("U0DAVE")
    with pytest.raises(UserError, match=r"^Only members of the responders group may change the severity in INC-7\.$"):
        checks.require(INCIDENT, "U0DAVE", Privilege.SEVERITY)


def test_a_channels_members_are_kept_and_asked_again_for_someone_not_among_them(clock: list[float]) -> None:
    workspace = CountingWorkspace({"U0ALICE"})
    checks = access_to(workspace)
    for _ in range(5):
        checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    assert workspace.asked.count("members:C0INC7") == 1
    workspace.members.add("U0BOB")  # joined after the members were read
    checks.require(INCIDENT, "U0BOB", Privilege.ACT)  # asked again at once, not refused
    assert workspace.asked.count("members:C0INC7") == 2
    checks.require(INCIDENT, "U0BOB", Privilege.ACT)
    assert workspace.asked.count("members:C0INC7") == 2  # the new answer is kept
    workspace.members.discard("U0ALICE")  # removed: still allowed while the answer is kept
    clock[0] += MEMBERS_SECONDS - 1
    checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    clock[0] += 1
    with pytest.raises(UserError):
        checks.require(INCIDENT, "U0ALICE", Privilege.ACT)  # kept no longer: asked again, and refused


def test_the_group_and_guests_are_kept_for_their_own_times(clock: list[float]) -> None:
    workspace = CountingWorkspace({"U0ALICE", "U0BOB"}, group=["U0ALICE", "U0BOB"])
    checks = access_to(workspace, "S0RESPOND")
    checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    checks.require(INCIDENT, "U0BOB", Privilege.ACT)
    assert workspace.asked.count("group:S0RESPOND") == 1
    assert workspace.asked.count("guest:U0ALICE") == 1
    clock[0] += GROUP_SECONDS - 1
    checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    assert workspace.asked.count("group:S0RESPOND") == 1
    clock[0] += 1
    checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    assert workspace.asked.count("group:S0RESPOND") == 2
    assert workspace.asked.count("guest:U0ALICE") == 1  # a guest's answer is kept longer
    clock[0] += GUEST_SECONDS - GROUP_SECONDS
    checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    assert workspace.asked.count("guest:U0ALICE") == 2


def test_without_a_group_the_workspace_is_never_asked_for_one(clock: list[float]) -> None:
    workspace = CountingWorkspace({"U0ALICE"})
    checks = access_to(workspace, None)
    checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    assert checks.may_act(INCIDENT) == {"U0ALICE"}
    assert not [asked for asked in workspace.asked if asked.startswith("group:")]


def test_a_group_slack_cannot_read_refuses_in_words_and_allows_nothing(clock: list[float]) -> None:
    checks = access_to(CountingWorkspace({"U0ALICE"}, group=None), "S0RESPOND")
    with pytest.raises(UserError) as refused:
        checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    assert str(refused.value) == (
        "The bot cannot read the responders group S0RESPOND from Slack right now, so it cannot check who may do "
        "this; try again shortly."
    )
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_an_empty_group_admits_no_one(clock: list[float]) -> None:
    checks = access_to(CountingWorkspace({"U0ALICE"}, group=[]), "S0RESPOND")
    with pytest.raises(UserError, match="Only members of the responders group"):
        checks.require(INCIDENT, "U0ALICE", Privilege.ACT)
    assert checks.may_act(INCIDENT) == set()
    assert checks.approver_refusal(INCIDENT, "U0ALICE", channel_rule=True) is Refusal.NOT_RESPONDER


def test_who_may_act_leaves_out_the_members_outside_the_group(clock: list[float]) -> None:
    checks = access_to(CountingWorkspace({"U0ALICE", "U0BOB"}, group=["U0BOB", "U0CAROL"]), "S0RESPOND")
    assert checks.may_act(INCIDENT) == {"U0BOB"}


def test_who_may_approve(clock: list[float]) -> None:
    workspace = CountingWorkspace({"U0ALICE", "U0BOB", "U0GUEST"}, group=["U0ALICE"], guests=frozenset({"U0GUEST"}))
    checks = access_to(workspace, "S0RESPOND")
    # with an approver policy, the policy decides, but a guest never approves
    assert checks.approver_refusal(INCIDENT, "U0GUEST", channel_rule=False) is Refusal.GUEST
    assert checks.approver_refusal(INCIDENT, "U0MALLORY", channel_rule=False) is None
    # without one, the approver is someone who may act
    assert checks.approver_refusal(INCIDENT, "U0GUEST", channel_rule=True) is Refusal.GUEST
    assert checks.approver_refusal(INCIDENT, "U0MALLORY", channel_rule=True) is Refusal.UNAUTHORIZED
    assert checks.approver_refusal(INCIDENT, "U0BOB", channel_rule=True) is Refusal.NOT_RESPONDER
    assert checks.approver_refusal(INCIDENT, "U0ALICE", channel_rule=True) is None
    no_group = access_to(CountingWorkspace({"U0BOB"}))
    assert no_group.approver_refusal(INCIDENT, "U0BOB", channel_rule=True) is None
    joined = CountingWorkspace(set())
    late = access_to(joined)
    assert late.approver_refusal(INCIDENT, "U0BOB", channel_rule=True) is Refusal.UNAUTHORIZED
    joined.members.add("U0BOB")
    assert late.approver_refusal(INCIDENT, "U0BOB", channel_rule=True) is None  # asked again: joined since
