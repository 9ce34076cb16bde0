"""The SOQL and Apex the bot sends to Salesforce, built with format_soql: every value quoted, never pasted in."""

from __future__ import annotations

from string import Formatter

from simple_salesforce.format import format_soql


def build_soql(template: str, values: dict[str, object]) -> str:
    """A step's SOQL with its values quoted by format_soql (a datetime becomes an explicit UTC bound)."""
    return " ".join(format_soql(template, **values).split())


def soql_placeholders(template: str) -> set[str]:
    return {name.split(".")[0] for _, name, _, _ in Formatter().parse(template) if name}


def permission_set_assignments_soql(user_id: str, permission_sets: tuple[str, ...]) -> str:
    """A user's assignments of the named permission sets; profile-owned ones are never touched."""
    return format_soql(
        "SELECT Id, PermissionSetId, PermissionSet.Name FROM PermissionSetAssignment WHERE AssigneeId = {user_id} "
        "AND PermissionSet.Name IN {names} AND PermissionSet.IsOwnedByProfile = false",
        user_id=user_id,
        names=list(permission_sets),
    )


# What the integration user needs, by the Salesforce permission field that grants it (incident-bot doctor).
GRANTED_PERMISSIONS = {
    "PermissionsApiEnabled": "API Enabled (every call)",
    "PermissionsAuthorApex": "Author Apex (anonymous Apex: refresh, cache, cron abort)",
    "PermissionsViewSetup": "View Setup and Configuration (the trigger check, named credentials)",
    "PermissionsCustomizeApplication": "Customize Application (FM_Config through the Metadata API)",
    "PermissionsAssignPermissionSets": "Assign Permission Sets (the per-user lockout)",
}


def granted_permissions_soql(user_id: str) -> str:
    """The user's permissions, from every permission set assigned to it (its profile's included)."""
    return format_soql(
        "SELECT PermissionsApiEnabled, PermissionsAuthorApex, PermissionsViewSetup, PermissionsCustomizeApplication,"
        " PermissionsAssignPermissionSets FROM PermissionSet WHERE Id IN"
        " (SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = {user_id})",
        user_id=user_id,
    )


def cron_soql(job_name: str) -> str:
    return format_soql("SELECT Id, State FROM CronTrigger WHERE CronJobDetail.Name = {name}", name=job_name)


def abort_cron_apex(job_name: str) -> str:
    query = format_soql("SELECT Id FROM CronTrigger WHERE CronJobDetail.Name = {name}", name=job_name)
    return f"for (CronTrigger ct : [{query}]) {{\n  System.abortJob(ct.Id);\n}}"
