"""Who may do what in an incident: the rules, once. Changing the org, resolving, the severity and the roles
need a member of the incident's channel (and of RESPONDERS_USERGROUP when it is set); anyone may look."""

from __future__ import annotations

from enum import StrEnum

from bot.core.incident import Incident


class Privilege(StrEnum):
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
) -> str | None:
    """Why `actor` may not do it (one sentence), or None when they may. `responders` is None when no
    responders group is configured."""
    if actor not in channel_members:
        return f"Only members of {incident.reference}'s channel may {privilege.value}; join it first."
    if responders is not None and actor not in responders:
        return f"Only members of the responders group may {privilege.value} in {incident.reference}."
    return None
