"""Two-person approval: a request to change production, its decision, its one execution and its verification.

The rules are enforced atomically in the store (one compare-and-set); this module names the states, the
refusals people are told, and what exactly a request will send to the org.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.core.playbook import CronAbort, FmConfigChange, KillSwitch, PermissionSetRevocation, ProviderSwitch


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"


class Refusal(StrEnum):
    """Why a decision was refused; each value is the sentence the person who clicked is told."""

    MISSING = "That request no longer exists."
    SELF = "You made this request: a second person has to approve it."
    UNAUTHORIZED = "You are not one of the approvers for this request."
    EXPIRED = "This request has expired; request it again if it is still needed."
    CLOSED = "The incident is resolved; nothing more runs for it."
    DECIDED = "This request was already decided."


class Action(StrEnum):
    APPLY = "apply"
    REVERT = "revert"


class ApprovalRequest(BaseModel):
    """What is asked. Its decision and execution live beside it in the store, changed only atomically."""

    model_config = ConfigDict(frozen=True)
    id: str
    incident: int
    title: str
    switch: str | None = None  # a kill-switch key, or None for a destructive step
    scope: str | None = None  # the playbook step that asked, if any
    step: str | None = None
    target: dict[str, str] = {}
    action: Action = Action.APPLY
    reverts: str | None = None
    changes: dict[str, str] = {}  # FM_Config field → value to set
    restore: dict[str, str] = {}  # permission set name → id, re-assigned by a revert
    apex: str | None = None
    plan: list[str]  # exactly what will be sent to the org, in order
    requester: str
    reason: str
    created_at: datetime
    expires_at: datetime
    drill: bool = False
    revertible: bool = False


class Outcome(BaseModel):
    """The decision, execution and verification of a request, as the card shows them."""

    model_config = ConfigDict(frozen=True)
    status: RequestStatus = RequestStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    result: str = ""
    error: str = ""
    verified: bool | None = None
    observed: str = ""
    prior: dict[str, str | None] = {}
    reverted_by: str | None = None


def fm_config_changes(switch: KillSwitch, target: dict[str, str]) -> dict[str, str]:
    """The FM_Config fields a switch sets, or {} when it is not an FM_Config switch."""
    mechanism = switch.mechanism
    if isinstance(mechanism, FmConfigChange):
        return {mechanism.field: mechanism.value}
    if isinstance(mechanism, ProviderSwitch):
        return {mechanism.provider_fields[target["provider"]]: mechanism.value}
    return {}


def is_revertible(switch: KillSwitch | None) -> bool:
    """FM_Config values and permission set assignments can be put back; an aborted job cannot be rescheduled."""
    return switch is not None and not isinstance(switch.mechanism, CronAbort)


def fm_config_fields(switch: KillSwitch) -> list[str]:
    """The FM_Config fields a switch can change (all providers' for the provider switch)."""
    mechanism = switch.mechanism
    if isinstance(mechanism, FmConfigChange):
        return [mechanism.field]
    if isinstance(mechanism, ProviderSwitch):
        return list(mechanism.provider_fields.values())
    return []


def needs_user(switch: KillSwitch) -> bool:
    return isinstance(switch.mechanism, PermissionSetRevocation)


def needs_provider(switch: KillSwitch) -> bool:
    return isinstance(switch.mechanism, ProviderSwitch)
