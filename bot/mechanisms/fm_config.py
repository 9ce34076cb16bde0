"""FM_Config switches: a Metadata API update of the custom metadata record `FM_Config.<FM_CONFIG_RECORD>`
(custom metadata cannot be changed by DML or a REST update), then `FMConfig.refresh()` so that it takes effect.

Values keep their type: a checkbox is sent and compared as a boolean, a number as a double, text as text, so a
switch read back from a real org verifies (`str(False)` is not `'false'`). The type comes from the org: the
value the record holds before the change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import StringConstraints, model_validator

from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.salesforce.gateway import SalesforceGateway, Value
from bot.mechanisms.base import FormField, Mechanism, MechanismConfig, OrgSetup, ReadBack, RequestError

REFRESH_APEX = "FMConfig.refresh();"
RECORD_SETTING = "FM_CONFIG_RECORD"
# Text as the field holds it: a name, or a chain of names separated by commas (Playbook 1's fallback chain), kept
# exactly as typed, read back whole and reverted whole.
TEXT_VALUE = r"(?=.{1,80}$)[A-Za-z0-9_.:-]+(?:, ?[A-Za-z0-9_.:-]+)*"
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$")]


class FmConfigChange(MechanismConfig):
    """A field set to `value`; without one, to what the requester picks from `options` or types (the fallback
    provider), the form starting from the incident's remembered parameter `prefill` (found in the data)."""

    type: Literal["fm_config"]
    field: FieldName
    value: bool | float | str | None = None
    options: tuple[str, ...] = ()
    label: str = "Value"
    prefill: str | None = None

    @model_validator(mode="after")
    def _asked_or_fixed(self) -> FmConfigChange:
        if self.value is not None and (self.options or self.prefill):
            raise ValueError("a fixed value needs no options and no prefill")
        return self


def coerce(value: Value, like: Value) -> Value:
    """`value` as the field's type, which the value it holds (`like`) tells; text stays text."""
    if isinstance(like, bool) and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(like, float) and isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def same(a: Value, b: Value) -> bool:
    """Equal as the org means it: by type first (a checkbox false is not the text "false")."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 1e-9
    return type(a) is type(b) and a == b


def shown(value: Value) -> str:
    """A value as Setup shows it: true/false, a number without a trailing .0, text, or (empty)."""
    if value is None:
        return "(empty)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return value


def record_of(setup: OrgSetup) -> str:
    """`FM_Config.<record>`: the record the operator named; the runbook names none, and none is guessed."""
    if setup.fm_config_record is None:
        raise RequestError(
            f"Which FM_Config record the switches change is not set: set {RECORD_SETTING} to its DeveloperName "
            "(Setup → Custom Metadata Types → FM_Config → Manage Records), or change it by hand."
        )
    return f"FM_Config.{setup.fm_config_record}"


class FmConfig(Mechanism):
    name = "fm_config"
    config = FmConfigChange

    def form(
        self, config: Any, setup: OrgSetup, remembered: Mapping[str, str], org: SalesforceGateway | None
    ) -> list[FormField]:
        assert isinstance(config, FmConfigChange)
        if config.value is not None:
            return []
        initial = remembered.get(config.prefill) if config.prefill else None
        options = tuple((option, option) for option in config.options)
        hint = f"What {config.field} will hold (the form starts from the incident's data where it has some)."
        return [FormField("value", config.label, hint, options, initial, max_length=80)]

    def change(self, config: Any, target: Mapping[str, str], setup: OrgSetup) -> dict[str, Any]:
        assert isinstance(config, FmConfigChange)
        value: Value = config.value
        if value is None:
            value = (target.get("value") or "").strip()
            if config.options and value not in config.options:
                raise RequestError(f"Pick one of {', '.join(config.options)}.", field="value")
            if not re.fullmatch(TEXT_VALUE, value):
                raise RequestError(
                    "Give the value as the field holds it: letters, digits and _ . : - only (a chain: names separated "
                    "by commas), at most 80.",
                    field="value",
                )
        return {"record": record_of(setup), "fields": {config.field: value}}

    def target(self, change: Mapping[str, Any]) -> dict[str, str]:
        return {"record": str(change["record"])} if len(change["fields"]) > 1 else {}

    def plan(self, change: Mapping[str, Any]) -> list[str]:
        record, fields = change["record"], change["fields"]
        sets = ", ".join(f"{name} = {shown(value)}" for name, value in fields.items())
        return [
            f"Metadata API updateMetadata: {record}: {sets}",
            f"Tooling API executeAnonymous: {REFRESH_APEX}",
            f"then Metadata API readMetadata {record}, expecting {sets}",
        ]

    def prepare(self, org: SalesforceGateway, change: Mapping[str, Any]) -> dict[str, Any]:
        values = org.read_custom_metadata(change["record"])
        missing = [name for name in change["fields"] if name not in values]
        if missing:
            raise RequestError(f"{change['record']} has no field {', '.join(missing)}.")
        return {name: values[name] for name in change["fields"]}

    def apply(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str:
        fields = {name: coerce(value, prior.get(name)) for name, value in change["fields"].items()}
        org.update_custom_metadata(change["record"], fields)
        return f"{change['record']}: " + ", ".join(f"{name} = {shown(value)}" for name, value in fields.items())

    def finish(self, org: SalesforceGateway, change: Mapping[str, Any]) -> str:
        org.execute_anonymous(REFRESH_APEX)
        return "FMConfig.refresh() ran."

    def read_back(self, org: SalesforceGateway, change: Mapping[str, Any], prior: Mapping[str, Any]) -> ReadBack:
        values = org.read_custom_metadata(change["record"])
        seen = {name: values.get(name) for name in change["fields"]}
        wanted = {name: coerce(value, prior.get(name)) for name, value in change["fields"].items()}
        text = "read back " + ", ".join(f"{name} = {shown(value)}" for name, value in seen.items())
        if all(same(seen[name], wanted[name]) for name in seen):
            return ReadBack(True, text)
        if all(same(seen[name], prior.get(name)) for name in seen):
            return ReadBack(False, text)
        return ReadBack(None, text)

    def in_place(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> str | None:
        fields = change["fields"]
        if all(name in prior and same(coerce(value, prior[name]), prior[name]) for name, value in fields.items()):
            return f"{change['record']}: " + ", ".join(f"{name} = {shown(prior[name])}" for name in fields)
        return None

    def revert(self, change: Mapping[str, Any], prior: Mapping[str, Any]) -> dict[str, Any]:
        return {"record": change["record"], "fields": dict(prior)}

    def state(self, org: SalesforceGateway, config: Any, setup: OrgSetup) -> str:
        assert isinstance(config, FmConfigChange)
        if setup.fm_config_record is None:
            return f"which FM_Config record to change is not set ({RECORD_SETTING})"
        try:
            values = org.read_custom_metadata(record_of(setup))
        except SalesforceError as error:
            return f"state unknown: {error}"
        return f"now: {config.field} = {shown(values.get(config.field))}"

    def manual(self, config: Any, setup: OrgSetup) -> str:
        assert isinstance(config, FmConfigChange)
        value = shown(config.value) if config.options == () else f"one of {', '.join(config.options)}"
        record = setup.fm_config_record or "your FM_Config record"
        return (
            f"Setup → Custom Metadata Types → FM_Config → {record}: {config.field} = {value}, then run {REFRESH_APEX}"
        )


MECHANISM = FmConfig()
