"""A destructive Apex step (Playbook 3's cache clear, for example), run once through the Tooling API after two
people agree. Anonymous Apex returns nothing to read back, so its card says so rather than claiming a check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.mechanisms.base import Mechanism, MechanismConfig, OrgSetup


class ApexRun(MechanismConfig):
    type: Literal["apex"]


class Apex(Mechanism):
    name = "apex"
    config = ApexRun
    revertible = False
    can_read_back = False

    def plan(self, change: Mapping[str, Any]) -> list[str]:
        return [f"Tooling API executeAnonymous:\n{change['apex']}"]

    def apply(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str:
        org.execute_anonymous(change["apex"])
        return "the Apex compiled and ran."

    def manual(self, config: Any, setup: OrgSetup) -> str:
        return "run the step's Apex with `sf apex run`"


MECHANISM = Apex()
