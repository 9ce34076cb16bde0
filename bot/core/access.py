"""Who may do what in an incident: the rules, once. Changing anything in an incident (its steps, playbooks,
probes, notes, milestones, severity, roles; requesting a change to the org; resolving) needs a member of the
incident's channel, of RESPONDERS_USERGROUP when it is set, who is not a guest of the workspace; anyone may look.
Approving needs someone who is not a guest and, without an approver policy, the same as acting."""

from __future__ import annotations

from enum import StrEnum

from bot.core.incident import Incident


class Privilege(StrEnum):
    ACT = "change this incident"
    RUN_CHANGE = "run steps that change the org"
    REQUEST = "request a kill switch or a destructive step"
    RESOLVE = "resolve the incident"
    SEVERITY = "change the severity"
    ROLES = "assign roles"


def refusal(
    incident: Incident,
    privilege: Privilege,
    actor: str,
    channel_members: set[str],
    responders: set[str] | None,
    guest: bool,
) -> str | None:
    """Why `actor` may not do it (one sentence), or None when they may. `responders` is None when no
    responders group is configured."""
    if guest:
        return f"Guests of the workspace may not {privilege.value}."
    if actor not in channel_members:
        return f"Only members of {incident.reference}'s channel may {privilege.value}; join it first."
    if responders is not None and actor not in responders:
        return f"Only members of the responders group may {privilege.value} in {incident.reference}."
    return None


def may_act(channel_members: set[str], responders: set[str] | None) -> set[str]:
    """Who of the channel may act in it (guests aside, which only a click tells)."""
    return channel_members if responders is None else channel_members & responders
