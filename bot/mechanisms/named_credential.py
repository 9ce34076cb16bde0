"""Taking a provider out: its Named Credential's "Enabled for Callouts" turned off, so the router skips it.

No Salesforce API changes that setting: the Connect REST resource for named credentials
(`/named-credentials/named-credential-setup/{developerName}`) reports it as `calloutStatus` (API 59.0+), but its
PUT input, like the Metadata and Tooling API types, has no such field. So this switch is guided: once two people
agree, the card gives the exact Setup path, a person clears the box, and the bot reads `calloutStatus` until it
shows `Disabled` (verified) or the watch ends (not verified). The revert is the same, back to `Enabled`.
Which Named Credential serves which provider is the operator's setting (PROVIDER_NAMED_CREDENTIALS); where it
is not set, the form lists the org's named credentials to choose from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.mechanisms.base import FormField, Mechanism, MechanismConfig, OrgSetup, ReadBack, RequestError

ENABLED, DISABLED = "Enabled", "Disabled"
SETUP_PATH = "Setup → Named Credentials → Named Credentials tab → {name} → Edit → {box} Enabled for Callouts → Save"


class NamedCredentialSwitch(MechanismConfig):
    type: Literal["named_credential"]


def status_of(credential: Mapping[str, Any]) -> str:
    return str(credential.get("calloutStatus") or "unknown (the org's API is older than 59.0?)")


class NamedCredential(Mechanism):
    name = "named_credential"
    config = NamedCredentialSwitch
    guided = True
    watch_minutes = 15

    def form(
        self, config: Any, setup: OrgSetup, remembered: Mapping[str, str], org: SalesforceGateway | None
    ) -> list[FormField]:
        options = [(name, f"{name} ({provider})") for provider, name in setup.named_credentials.items()]
        if not options and org is not None:
            try:
                options = [(str(c["developerName"]), str(c["masterLabel"])) for c in org.named_credentials()]
            except (SalesforceError, KeyError):  # no answer, or one without the fields the API always gives
                options = []
        if not options:
            raise RequestError(
                "The bot knows no Named Credential to offer: set PROVIDER_NAMED_CREDENTIALS (provider=DeveloperName, "
                "comma-separated), or deactivate it by hand in Setup → Named Credentials."
            )
        initial = setup.named_credentials.get(remembered["provider"]) if "provider" in remembered else None
        return [FormField("named_credential", "Named Credential to take out", options=tuple(options), initial=initial)]

    def change(self, config: Any, target: Mapping[str, str], setup: OrgSetup) -> dict[str, Any]:
        name = target.get("named_credential") or ""
        if not name:
            raise RequestError("Pick the Named Credential.", field="named_credential")
        return {"developer_name": name, "status": DISABLED}

    def target(self, change: Mapping[str, Any]) -> dict[str, str]:
        return {"named_credential": str(change["developer_name"])}

    def plan(self, change: Mapping[str, Any]) -> list[str]:
        box = "tick" if change["status"] == ENABLED else "clear"
        return [
            "Nothing is sent by the bot: no Salesforce API can change Enabled for Callouts.",
            "Once approved, the requester does it: " + SETUP_PATH.format(name=change["developer_name"], box=box),
            f"then the bot reads GET named-credentials/named-credential-setup/{change['developer_name']} until "
            f"calloutStatus is {change['status']} (for up to {self.watch_minutes} minutes)",
        ]

    def prepare(self, org: SalesforceGateway, change: Mapping[str, Any]) -> dict[str, Any]:
        return {"calloutStatus": status_of(org.named_credential(change["developer_name"]))}

    def read_back(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> ReadBack:
        status = status_of(org.named_credential(change["developer_name"]))
        seen = f"{change['developer_name']} calloutStatus = {status}"
        if status == change["status"]:
            return ReadBack(True, seen)
        return ReadBack(False if status == prior.get("calloutStatus") else None, seen)

    def in_place(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str | None:
        if prior.get("calloutStatus") == change["status"]:
            return f"{change['developer_name']} calloutStatus = {change['status']}"
        return None

    def revert(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> dict[str, Any]:
        return {"developer_name": change["developer_name"], "status": ENABLED}

    def state(self, org: SalesforceGateway, config: Any, setup: OrgSetup) -> str:
        if not setup.named_credentials:
            return "which Named Credential serves which provider is not set (PROVIDER_NAMED_CREDENTIALS)"
        states = []
        for provider, name in setup.named_credentials.items():
            try:
                states.append(f"{provider}: {name} {status_of(org.named_credential(name))}")
            except SalesforceError as error:
                states.append(f"{provider}: {name} unknown ({error})")
        return "now: " + "; ".join(states)

    def manual(self, config: Any, setup: OrgSetup) -> str:
        return SETUP_PATH.format(name="<the provider's Named Credential>", box="clear")


MECHANISM = NamedCredential()
