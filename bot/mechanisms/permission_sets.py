"""The per-user lockout: delete a user's assignments of the named permission sets through REST (never the
ones a profile owns), and a revert that assigns them again. The runbook's table names one permission set; its
Playbook 4 Apex revokes two (Org Chat user and DML user), which is what the bot does, and the card says so."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.soql import permission_set_assignments_soql
from bot.core.salesforce_id import USER_PREFIX, parse_id
from bot.mechanisms.base import FormField, Mechanism, MechanismConfig, OrgSetup, ReadBack, RequestError


class PermissionSetRevocation(MechanismConfig):
    type: Literal["revoke_permission_sets"]
    permission_sets: tuple[str, ...] = Field(min_length=1)


class PermissionSets(Mechanism):
    name = "revoke_permission_sets"
    config = PermissionSetRevocation

    def form(
        self, config: Any, setup: OrgSetup, remembered: Mapping[str, str], org: SalesforceGateway | None
    ) -> list[FormField]:
        return [
            FormField(
                "user_id",
                "Salesforce user Id to lock out",
                hint="15 or 18 characters, starting with 005",
                initial=remembered.get("suspect_user_id"),
            )
        ]

    def change(self, config: Any, target: Mapping[str, str], setup: OrgSetup) -> dict[str, Any]:
        assert isinstance(config, PermissionSetRevocation)
        try:
            user_id = parse_id(target.get("user_id") or "", prefix=USER_PREFIX)
        except ValueError as invalid:
            raise RequestError(str(invalid), field="user_id") from None
        return {"user_id": user_id, "permission_sets": list(config.permission_sets)}

    def target(self, change: Mapping[str, Any]) -> dict[str, str]:
        return {"user_id": str(change["user_id"])}

    def plan(self, change: Mapping[str, Any]) -> list[str]:
        if "restore" in change:
            user_id = change["user_id"]
            return [
                f"REST create PermissionSetAssignment: AssigneeId {user_id}, PermissionSetId {set_id} ({name})"
                for name, set_id in change["restore"].items()
            ] + ["then a REST query of the user's assignments, expecting them in place"]
        soql = permission_set_assignments_soql(change["user_id"], tuple(change["permission_sets"]))
        return [
            f"REST query: {soql}",
            f"REST delete of each PermissionSetAssignment it returns ({', '.join(change['permission_sets'])})",
            "then the same query again, expecting none",
        ]

    def _assignments(self, org: SalesforceGateway, change: Mapping[str, Any]) -> list[dict[str, Any]]:
        names = tuple(change.get("permission_sets") or change.get("restore") or ())
        return org.query(permission_set_assignments_soql(change["user_id"], names)).records

    def prepare(self, org: SalesforceGateway, change: Mapping[str, Any]) -> dict[str, Any]:
        found = self._assignments(org, change)
        return {
            "assignments": {str(a["PermissionSet.Name"]): str(a["PermissionSetId"]) for a in found},
            "ids": [str(a["Id"]) for a in found],
        }

    def apply(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str:
        if "restore" in change:
            for set_id in change["restore"].values():
                org.create("PermissionSetAssignment", {"AssigneeId": change["user_id"], "PermissionSetId": set_id})
            return f"re-assigned {len(change['restore'])} permission set(s)."
        for assignment_id in prior["ids"]:
            org.delete("PermissionSetAssignment", assignment_id)
        return f"deleted {len(prior['ids'])} permission set assignment(s)."

    def read_back(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> ReadBack:
        left = self._assignments(org, change)
        if "restore" in change:
            wanted = set(change["restore"].values())
            there = {str(a["PermissionSetId"]) for a in left}
            seen = f"{len(there & wanted)} of {len(wanted)} assignment(s) in place"
            return ReadBack(True if wanted <= there else (False if not there & wanted else None), seen)
        names = ", ".join(str(a.get("PermissionSet.Name")) for a in left)
        seen = f"{len(left)} assignment(s) left" + (f": {names}" if names else "")
        if not left:
            return ReadBack(True, seen)
        return ReadBack(False if len(left) == len(prior["ids"]) else None, seen)

    def in_place(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str | None:
        if "restore" in change:
            there = set(prior["assignments"].values())
            wanted = set(change["restore"].values())
            return f"{len(wanted)} of {len(wanted)} assignment(s) in place" if wanted <= there else None
        return "0 assignment(s) to revoke" if not prior["ids"] else None

    def revert(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> dict[str, Any]:
        restore = {name: set_id for name, set_id in prior["assignments"].items() if set_id}
        if not restore:
            raise RequestError("The lockout removed no assignment, so there is nothing to put back.")
        return {"user_id": change["user_id"], "restore": restore}

    def state(self, org: SalesforceGateway, config: Any, setup: OrgSetup) -> str:
        return "per user: asks which user"

    def manual(self, config: Any, setup: OrgSetup) -> str:
        assert isinstance(config, PermissionSetRevocation)
        return f"delete [{permission_set_assignments_soql('<user Id>', config.permission_sets)}];"


MECHANISM = PermissionSets()
