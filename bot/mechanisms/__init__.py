"""The mechanisms that change the org for kill switches and destructive steps, one module each (see `base`), and
the catalogue of kill switches that `playbooks/kill-switches.yaml` describes with them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field, model_validator

from bot.core.playbook import Key, Strict
from bot.mechanisms.base import Mechanism, MechanismConfig
from bot.plugins import discover

MECHANISMS: dict[str, Mechanism] = {m.name: m for m in discover(sys.modules[__name__], "MECHANISM")}

if TYPE_CHECKING:
    AnyMechanism = MechanismConfig
else:
    AnyMechanism = Annotated[Union[tuple(m.config for m in MECHANISMS.values())], Field(discriminator="type")]  # noqa: UP007


class KillSwitch(Strict):
    key: Key
    title: str
    effect: str
    mechanism: AnyMechanism

    @property
    def uses(self) -> Mechanism:
        return MECHANISMS[self.mechanism.type]


class KillSwitchCatalogue(Strict):
    """The runbook's kill switches in its priority order (the panel), and other changes playbooks request with
    the same two-person approval (Playbook 1's fallback chain)."""

    switches: tuple[KillSwitch, ...] = Field(min_length=1)
    changes: tuple[KillSwitch, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> KillSwitchCatalogue:
        keys = [switch.key for switch in (*self.switches, *self.changes)]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            raise ValueError(f"switch keys used twice: {sorted(duplicates)}")
        return self

    def get(self, key: str) -> KillSwitch | None:
        return next((switch for switch in (*self.switches, *self.changes) if switch.key == key), None)
