"""What a mechanism is: one way a kill switch or a destructive step changes the org, in one module, behind the
same small interface. The execution service (`bot/services/execution.py`) drives every mechanism the same way:

    prepare()    read what is there before the change (read-only; nothing is sent yet)
    in_place()   is that already what the change would make it? (then nothing is sent)
    apply()      the one call that changes the org (never repeated for one approval)
    finish()     follow-ups that are safe to repeat (FMConfig.refresh())
    read_back()  read the org again: did the change take? (values compared by their type)

A guided mechanism (the named credential) sends nothing: a person makes the change in Setup and the bot reads
the org until it shows it. The registry in `bot/mechanisms/__init__.py` finds every module here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from bot.core.playbook import Strict

if TYPE_CHECKING:
    from bot.adapters.salesforce.gateway import SalesforceGateway


class MechanismConfig(Strict):
    """A switch's mechanism as `playbooks/kill-switches.yaml` writes it; each mechanism adds its fields."""

    type: str


@dataclass(frozen=True)
class OrgSetup:
    """Facts about the org that only the operator knows, from settings: never a guess."""

    fm_config_record: str | None  # None: the operator has not named it (FM_CONFIG_RECORD)
    named_credentials: Mapping[str, str] = field(default_factory=dict)  # provider → Named Credential


@dataclass(frozen=True)
class FormField:
    """A value a request form asks for: one of a few options, or typed (a Salesforce user Id, or text up to
    `max_length`)."""

    name: str
    label: str
    hint: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label); empty: typed
    initial: str | None = None
    max_length: int = 18  # a Salesforce Id


@dataclass(frozen=True)
class ReadBack:
    """What the org shows after a change: `applied` True (the change is there), False (the state before it is
    still there), or None (neither: someone else changed it, or there is nothing to read)."""

    applied: bool | None
    seen: str


class RequestError(ValueError):
    """The request cannot be made as asked; the message is one sentence for the requester, shown under the
    form's `field` when it is about one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Mechanism:
    name: ClassVar[str]
    config: ClassVar[type[MechanismConfig]]
    revertible: ClassVar[bool] = True
    guided: ClassVar[bool] = False  # a person changes it; the bot only reads the org back
    watch_minutes: ClassVar[int] = 0  # a guided change: how long the bot reads the org for it before "not verified"
    can_read_back: ClassVar[bool] = True

    def form(
        self, config: MechanismConfig, setup: OrgSetup, remembered: Mapping[str, str], org: SalesforceGateway | None
    ) -> list[FormField]:
        """What the request form asks for besides the reason (`org` to list what the org has, when connected)."""
        return []

    def change(self, config: MechanismConfig, target: Mapping[str, str], setup: OrgSetup) -> dict[str, Any]:
        """What will be sent, from the switch's configuration and what the form named (RequestError if invalid)."""
        return {}

    def target(self, change: Mapping[str, Any]) -> dict[str, str]:
        """What the request is aimed at, as the card shows it (a user Id, a named credential); {} for org-wide."""
        return {}

    def plan(self, change: Mapping[str, Any]) -> list[str]:
        """Exactly what will be sent to the org, in order, shown on the card before anyone approves."""
        raise NotImplementedError

    def prepare(self, org: SalesforceGateway, change: Mapping[str, Any]) -> dict[str, Any]:
        """The state before the change (kept, so that a revert can restore it); read-only."""
        return {}

    def apply(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str:
        """The change itself; returns what was done. Raises SalesforceRefused or SalesforceNoAnswer."""
        raise NotImplementedError

    def finish(self, org: SalesforceGateway, change: Mapping[str, Any]) -> str:
        """Follow-ups that are safe to repeat, once the change is in (default: none)."""
        return ""

    def read_back(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> ReadBack:
        return ReadBack(None, "nothing to read back: check its effect by hand.")

    def in_place(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str | None:
        """What the org shows, when the state read before the change (`prior`) is already what the change would
        make it (then nothing is sent); None otherwise, and always for a change the bot cannot read back."""
        return None

    def revert(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> dict[str, Any]:
        """The change that puts the prior state back."""
        raise NotImplementedError

    def state(self, org: SalesforceGateway, config: MechanismConfig, setup: OrgSetup) -> str:
        """What the org says now, for the panel."""
        return "state unknown"

    def manual(self, config: MechanismConfig, setup: OrgSetup) -> str:
        """How to do it by hand, with the same statements the bot sends when it can."""
        raise NotImplementedError
