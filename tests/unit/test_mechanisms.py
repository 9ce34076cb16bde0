"""What each mechanism asks for, aims at, plans and reverts, without I/O: the parts of a kill switch that are
decided before the org is read. What they read and send is in `tests/integration/test_mechanisms.py`."""

from __future__ import annotations

import pytest

from bot.mechanisms.base import FormField, OrgSetup, RequestError
from bot.mechanisms.cron_abort import MECHANISM as CRON
from bot.mechanisms.cron_abort import CronAbort
from bot.mechanisms.fm_config import MECHANISM as FM_CONFIG
from bot.mechanisms.fm_config import FmConfigChange, coerce, record_of, same, shown
from bot.mechanisms.named_credential import MECHANISM as NAMED_CREDENTIAL
from bot.mechanisms.named_credential import NamedCredentialSwitch, status_of
from bot.mechanisms.permission_sets import MECHANISM as PERMISSION_SETS
from bot.mechanisms.permission_sets import PermissionSetRevocation

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

SETUP = OrgSetup(fm_config_record="Default", named_credentials={"anthropic": "Anthropic_API"})
UNSET = OrgSetup(fm_config_record=None)
OFF = FmConfigChange(type="fm_config", field="orgChatDmlEnabled__c", value=False)
FALLBACK = FmConfigChange(
    type="fm_config", field="defaultProvider__c", label="Fallback provider", prefill="fallback_provider"
)
PICKED = FmConfigChange(type="fm_config", field="orgChatSurfacesEnabled__c", options=("all", "none"))
LOCKOUT = PermissionSetRevocation(
    type="revoke_permission_sets", permission_sets=("FlowMason_Org_Chat_User", "FlowMason_Org_Chat_Dml_User")
)
USER = "005000000000ABCAA2"
SETS = {"FlowMason_Org_Chat_User": "0PS000000000001AAA", "FlowMason_Org_Chat_Dml_User": "0PS000000000002AAA"}
ASSIGNMENT_SOQL = (
    "SELECT Id, PermissionSetId, PermissionSet.Name FROM PermissionSetAssignment WHERE AssigneeId = "
    "'005000000000ABCAA2' AND PermissionSet.Name IN ('FlowMason_Org_Chat_User','FlowMason_Org_Chat_Dml_User') "
    "AND PermissionSet.IsOwnedByProfile = false"
)


def test_values_keep_the_fields_type() -> None:
    assert coerce("false", True) is False and coerce("TRUE", False) is True and coerce("yes", True) == "yes"
    assert coerce("25", 10.0) == 25.0 and coerce(3, 10.0) == 3.0 and coerce("n/a", 10.0) == "n/a"
    assert coerce(True, 10.0) is True  # a checkbox is never read as a number
    assert coerce("none", "all") == "none" and coerce(False, None) is False and coerce("false", None) == "false"
    assert same(False, False) and not same(False, "false") and not same(0.0, False) and not same(1, 1.0)
    assert same(25.0, 25.000000000001) and not same(25.0, 25.00001) and not same(None, "") and same(None, None)
    assert [shown(v) for v in (False, True, 25.0, 2.5, "all", None)] == ["false", "true", "25", "2.5", "all", "(empty)"]


def test_the_fm_config_record_is_the_operators_setting_never_a_guess() -> None:
    assert record_of(SETUP) == "FM_Config.Default"
    with pytest.raises(RequestError) as unset:
        record_of(UNSET)
    assert str(unset.value) == (
        "Which FM_Config record the switches change is not set: set FM_CONFIG_RECORD to its DeveloperName "
        "(Setup → Custom Metadata Types → FM_Config → Manage Records), or change it by hand."
    )
    with pytest.raises(RequestError):
        FM_CONFIG.change(OFF, {}, UNSET)


def test_a_fixed_fm_config_switch_asks_nothing_and_changes_one_field() -> None:
    assert FM_CONFIG.form(OFF, SETUP, {"fallback_provider": "openai"}, None) == []
    change = FM_CONFIG.change(OFF, {"value": "true"}, SETUP)  # a fixed value ignores what a form sent
    assert change == {"record": "FM_Config.Default", "fields": {"orgChatDmlEnabled__c": False}}
    assert FM_CONFIG.target(change) == {}
    assert FM_CONFIG.plan(change) == [
        "Metadata API updateMetadata: FM_Config.Default: orgChatDmlEnabled__c = false",
        "Tooling API executeAnonymous: FMConfig.refresh();",
        "then Metadata API readMetadata FM_Config.Default, expecting orgChatDmlEnabled__c = false",
    ]
    assert FM_CONFIG.revert(change, {"orgChatDmlEnabled__c": True}) == {
        "record": "FM_Config.Default",
        "fields": {"orgChatDmlEnabled__c": True},
    }
    assert FM_CONFIG.manual(OFF, SETUP) == (
        "Setup → Custom Metadata Types → FM_Config → Default: orgChatDmlEnabled__c = false, "
        "then run FMConfig.refresh();"
    )
    assert FM_CONFIG.manual(OFF, UNSET).startswith("Setup → Custom Metadata Types → FM_Config → your FM_Config record:")


def test_a_typed_fm_config_value_starts_from_the_incidents_data_and_is_checked() -> None:
    assert FM_CONFIG.form(FALLBACK, SETUP, {"fallback_provider": "openai"}, None) == [
        FormField(
            "value",
            "Fallback provider",
            "What defaultProvider__c will hold (the form starts from the incident's data where it has some).",
            (),
            "openai",
            max_length=80,
        )
    ]
    assert FM_CONFIG.form(FALLBACK, SETUP, {}, None)[0].initial is None
    assert FM_CONFIG.form(PICKED, SETUP, {"fallback_provider": "openai"}, None)[0].initial is None  # no prefill
    assert FM_CONFIG.form(PICKED, SETUP, {}, None)[0].options == (("all", "all"), ("none", "none"))
    chain = FM_CONFIG.change(FALLBACK, {"value": "  openai, anthropic "}, SETUP)
    assert chain["fields"] == {"defaultProvider__c": "openai, anthropic"}  # kept as typed, trimmed
    assert FM_CONFIG.change(FALLBACK, {"value": "a" * 80}, SETUP)["fields"]["defaultProvider__c"] == "a" * 80
    for typed in ("a" * 81, "", "open ai", "openai;", "openai,, x", "x\ny"):
        with pytest.raises(RequestError) as refused:
            FM_CONFIG.change(FALLBACK, {"value": typed}, SETUP)
        assert refused.value.field == "value", typed
        assert str(refused.value) == (
            "Give the value as the field holds it: letters, digits and _ . : - only (a chain: names separated by "
            "commas), at most 80."
        )
    with pytest.raises(RequestError) as not_an_option:
        FM_CONFIG.change(PICKED, {"value": "some"}, SETUP)
    assert str(not_an_option.value) == "Pick one of all, none." and not_an_option.value.field == "value"
    assert FM_CONFIG.change(PICKED, {"value": "none"}, SETUP)["fields"] == {"orgChatSurfacesEnabled__c": "none"}
    assert FM_CONFIG.manual(PICKED, SETUP).endswith(
        "orgChatSurfacesEnabled__c = one of all, none, then run FMConfig.refresh();"
    )


def test_an_fm_config_change_of_several_fields_names_its_record() -> None:
    change = {"record": "FM_Config.Default", "fields": {"a__c": True, "b__c": 2.0}}
    assert FM_CONFIG.target(change) == {"record": "FM_Config.Default"}
    assert FM_CONFIG.plan(change)[0] == "Metadata API updateMetadata: FM_Config.Default: a__c = true, b__c = 2"


def test_an_fm_config_change_is_in_place_only_when_every_field_already_holds_it() -> None:
    change = {"record": "FM_Config.Default", "fields": {"orgChatDmlEnabled__c": "false", "pipelineMaxIterations__c": 5}}
    held = {"orgChatDmlEnabled__c": False, "pipelineMaxIterations__c": 5.0}
    assert (
        FM_CONFIG.in_place(change, held)
        == "FM_Config.Default: orgChatDmlEnabled__c = false, pipelineMaxIterations__c = 5"
    )
    assert FM_CONFIG.in_place(change, {**held, "pipelineMaxIterations__c": 6.0}) is None
    assert FM_CONFIG.in_place(change, {"orgChatDmlEnabled__c": False}) is None  # a field not read is not in place
    checkbox = {"record": "FM_Config.Default", "fields": {"orgChatDmlEnabled__c": False}}
    assert FM_CONFIG.in_place(checkbox, {"orgChatDmlEnabled__c": "false"}) is None  # text is not a checkbox


def test_a_lockout_asks_for_a_users_id_and_plans_the_runbooks_query() -> None:
    assert PERMISSION_SETS.form(LOCKOUT, SETUP, {"suspect_user_id": USER}, None) == [
        FormField("user_id", "Salesforce user Id to lock out", "15 or 18 characters, starting with 005", initial=USER)
    ]
    assert PERMISSION_SETS.form(LOCKOUT, SETUP, {}, None)[0].initial is None
    change = PERMISSION_SETS.change(LOCKOUT, {"user_id": "005000000000ABC"}, SETUP)
    assert change == {"user_id": USER, "permission_sets": ["FlowMason_Org_Chat_User", "FlowMason_Org_Chat_Dml_User"]}
    assert PERMISSION_SETS.target(change) == {"user_id": USER}
    assert PERMISSION_SETS.plan(change) == [
        f"REST query: {ASSIGNMENT_SOQL}",
        "REST delete of each PermissionSetAssignment it returns (FlowMason_Org_Chat_User, FlowMason_Org_Chat_Dml_User)",
        "then the same query again, expecting none",
    ]
    wrong_length = "A Salesforce Id has 15 or 18 letters and digits."
    for typed, said in (
        ({"user_id": "001000000000ABC"}, "A Salesforce user Id starts with 005."),
        ({"user_id": ""}, wrong_length),
        ({}, wrong_length),
    ):
        with pytest.raises(RequestError) as refused:
            PERMISSION_SETS.change(LOCKOUT, typed, SETUP)
        assert (refused.value.field, str(refused.value)) == ("user_id", said)
    assert PERMISSION_SETS.manual(LOCKOUT, SETUP) == (
        "delete [SELECT Id, PermissionSetId, PermissionSet.Name FROM PermissionSetAssignment WHERE AssigneeId = "
        "'<user Id>' AND PermissionSet.Name IN ('FlowMason_Org_Chat_User','FlowMason_Org_Chat_Dml_User') AND "
        "PermissionSet.IsOwnedByProfile = false];"
    )
    assert PERMISSION_SETS.state(None, LOCKOUT, SETUP) == "per user: asks which user"  # type: ignore[arg-type]


def test_a_lockout_is_in_place_when_nothing_is_assigned_and_its_revert_puts_back_what_it_removed() -> None:
    change = {"user_id": USER, "permission_sets": list(SETS)}
    assert PERMISSION_SETS.in_place(change, {"assignments": {}, "ids": []}) == "0 assignment(s) to revoke"
    prior = {"assignments": {**SETS, "Unassigned": ""}, "ids": ["0Pa1", "0Pa2"]}
    assert PERMISSION_SETS.in_place(change, prior) is None
    revert = PERMISSION_SETS.revert(change, prior)
    assert revert == {"user_id": USER, "restore": SETS}  # only what had an assignment
    assert PERMISSION_SETS.plan(revert) == [
        f"REST create PermissionSetAssignment: AssigneeId {USER}, PermissionSetId 0PS000000000001AAA "
        "(FlowMason_Org_Chat_User)",
        f"REST create PermissionSetAssignment: AssigneeId {USER}, PermissionSetId 0PS000000000002AAA "
        "(FlowMason_Org_Chat_Dml_User)",
        "then a REST query of the user's assignments, expecting them in place",
    ]
    assert (
        PERMISSION_SETS.in_place(revert, {"assignments": SETS, "ids": ["0Pa3", "0Pa4"]})
        == "2 of 2 assignment(s) in place"
    )
    one = {"FlowMason_Org_Chat_User": SETS["FlowMason_Org_Chat_User"]}
    assert PERMISSION_SETS.in_place(revert, {"assignments": one, "ids": ["0Pa3"]}) is None
    with pytest.raises(RequestError, match=r"^The lockout removed no assignment, so there is nothing to put back\.$"):
        PERMISSION_SETS.revert(change, {"assignments": {}, "ids": []})


def test_a_cron_abort_plans_the_runbooks_apex_and_has_no_revert() -> None:
    config = CronAbort(type="abort_cron", job_name="FM Org Inventory Nightly")
    change = CRON.change(config, {"job_name": "other"}, SETUP)
    assert change == {"job_name": "FM Org Inventory Nightly"}
    apex = (
        "for (CronTrigger ct : [SELECT Id FROM CronTrigger WHERE CronJobDetail.Name = 'FM Org Inventory Nightly']) "
        "{\n  System.abortJob(ct.Id);\n}"
    )
    assert CRON.plan(change) == [
        f"Tooling API executeAnonymous: {apex}",
        "then REST query: SELECT Id, State FROM CronTrigger WHERE CronJobDetail.Name = 'FM Org Inventory Nightly', "
        "expecting none",
    ]
    assert CRON.manual(config, SETUP) == apex
    assert CRON.in_place(change, {"scheduled": 0}) == "no scheduled job named FM Org Inventory Nightly"
    assert CRON.in_place(change, {"scheduled": 1}) is None and CRON.in_place(change, {}) is None
    assert not CRON.revertible


def test_a_provider_switch_is_guided_and_offers_the_operators_named_credentials() -> None:
    config = NamedCredentialSwitch(type="named_credential")
    two = OrgSetup(None, {"anthropic": "Anthropic_API", "openai": "OpenAI_API"})
    assert NAMED_CREDENTIAL.form(config, two, {"provider": "openai"}, None) == [
        FormField(
            "named_credential",
            "Named Credential to take out",
            options=(("Anthropic_API", "Anthropic_API (anthropic)"), ("OpenAI_API", "OpenAI_API (openai)")),
            initial="OpenAI_API",
        )
    ]
    assert NAMED_CREDENTIAL.form(config, two, {}, None)[0].initial is None
    with pytest.raises(RequestError) as none_known:
        NAMED_CREDENTIAL.form(config, UNSET, {}, None)
    assert str(none_known.value) == (
        "The bot knows no Named Credential to offer: set PROVIDER_NAMED_CREDENTIALS (provider=DeveloperName, "
        "comma-separated), or deactivate it by hand in Setup → Named Credentials."
    )
    change = NAMED_CREDENTIAL.change(config, {"named_credential": "OpenAI_API"}, two)
    assert change == {"developer_name": "OpenAI_API", "status": "Disabled"}
    for missing in ({}, {"named_credential": ""}):
        with pytest.raises(RequestError) as refused:
            NAMED_CREDENTIAL.change(config, missing, two)
        assert str(refused.value) == "Pick the Named Credential." and refused.value.field == "named_credential"
    assert NAMED_CREDENTIAL.target(change) == {"named_credential": "OpenAI_API"}
    assert NAMED_CREDENTIAL.plan(change) == [
        "Nothing is sent by the bot: no Salesforce API can change Enabled for Callouts.",
        "Once approved, the requester does it: Setup → Named Credentials → Named Credentials tab → OpenAI_API → Edit "
        "→ clear Enabled for Callouts → Save",
        "then the bot reads GET named-credentials/named-credential-setup/OpenAI_API until calloutStatus is Disabled "
        "(for up to 15 minutes)",
    ]
    revert = NAMED_CREDENTIAL.revert(change, {"calloutStatus": "Enabled"})
    assert revert == {"developer_name": "OpenAI_API", "status": "Enabled"}
    assert "→ tick Enabled for Callouts →" in NAMED_CREDENTIAL.plan(revert)[1]
    assert NAMED_CREDENTIAL.in_place(change, {"calloutStatus": "Disabled"}) == "OpenAI_API calloutStatus = Disabled"
    assert NAMED_CREDENTIAL.in_place(change, {"calloutStatus": "Enabled"}) is None
    assert NAMED_CREDENTIAL.manual(config, two) == (
        "Setup → Named Credentials → Named Credentials tab → <the provider's Named Credential> → Edit → clear "
        "Enabled for Callouts → Save"
    )
    assert NAMED_CREDENTIAL.state(None, config, UNSET) == (  # type: ignore[arg-type]
        "which Named Credential serves which provider is not set (PROVIDER_NAMED_CREDENTIALS)"
    )
    assert status_of({"calloutStatus": "Disabled"}) == "Disabled"
    assert status_of({}) == status_of({"calloutStatus": None}) == "unknown (the org's API is older than 59.0?)"
