"""Aborting a scheduled Apex job by its name (`System.abortJob` on its CronTrigger). An aborted job cannot be
rescheduled by the bot, so this switch offers no revert."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.soql import abort_cron_apex, cron_soql
from bot.mechanisms.base import Mechanism, MechanismConfig, OrgSetup, ReadBack


class CronAbort(MechanismConfig):
    type: Literal["abort_cron"]
    job_name: str


class Cron(Mechanism):
    name = "abort_cron"
    config = CronAbort
    revertible = False

    def change(self, config: Any, target: Mapping[str, str], setup: OrgSetup) -> dict[str, Any]:
        assert isinstance(config, CronAbort)
        return {"job_name": config.job_name}

    def plan(self, change: Mapping[str, Any]) -> list[str]:
        return [
            f"Tooling API executeAnonymous: {abort_cron_apex(change['job_name'])}",
            f"then REST query: {cron_soql(change['job_name'])}, expecting none",
        ]

    def prepare(self, org: SalesforceGateway, change: Mapping[str, Any]) -> dict[str, Any]:
        return {"scheduled": len(org.query(cron_soql(change["job_name"])).records)}

    def apply(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str:
        org.execute_anonymous(abort_cron_apex(change["job_name"]))
        return "the Apex compiled and ran."

    def read_back(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> ReadBack:
        left = len(org.query(cron_soql(change["job_name"])).records)
        seen = f"{left} scheduled job(s) named {change['job_name']} left"
        if left == 0:
            return ReadBack(True, seen)
        return ReadBack(False if left == prior.get("scheduled") else None, seen)

    def in_place(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str | None:
        return f"no scheduled job named {change['job_name']}" if prior.get("scheduled") == 0 else None

    def state(self, org: SalesforceGateway, config: Any, setup: OrgSetup) -> str:
        assert isinstance(config, CronAbort)
        try:
            rows = org.query(cron_soql(config.job_name)).records
        except SalesforceError as error:
            return f"state unknown: {error}"
        return f"now: scheduled ({rows[0].get('State')})" if rows else "now: not scheduled"

    def manual(self, config: Any, setup: OrgSetup) -> str:
        assert isinstance(config, CronAbort)
        return abort_cron_apex(config.job_name)


MECHANISM = Cron()
