"""Each mechanism against the fake org, through the real gateway over HTTPS: what it reads before a change, the
one call that changes the org, and what its read-back makes of each answer the org can give (the change there,
the state before it still there, or neither). The approval workflow around them is in `test_killswitches.py`."""

from __future__ import annotations

import pytest

from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.mechanisms.base import OrgSetup, ReadBack, RequestError
from bot.mechanisms.cron_abort import MECHANISM as CRON
from bot.mechanisms.cron_abort import CronAbort
from bot.mechanisms.fm_config import MECHANISM as FM_CONFIG
from bot.mechanisms.fm_config import FmConfigChange
from bot.mechanisms.named_credential import MECHANISM as NAMED_CREDENTIAL
from bot.mechanisms.named_credential import NamedCredentialSwitch
from bot.mechanisms.permission_sets import MECHANISM as PERMISSION_SETS
from tests.conftest import jwt_gateway
from tests.fakes.salesforce import (
    CHAT_DML_SET,
    CHAT_USER_SET,
    SUSPECT_USER_ID,
    FakeSalesforce,
)

pytestmark = pytest.mark.mutation  # in `make mutation`'s selection (pyproject.toml)

SETUP = OrgSetup(fm_config_record="Default", named_credentials={"anthropic": "Anthropic_API", "openai": "OpenAI_API"})
RECORD = "FM_Config.Default"
NIGHTLY = "FM Org Inventory Nightly"
LOCKOUT = {"user_id": SUSPECT_USER_ID, "permission_sets": ["FlowMason_Org_Chat_User", "FlowMason_Org_Chat_Dml_User"]}
SETS = {"FlowMason_Org_Chat_User": CHAT_USER_SET, "FlowMason_Org_Chat_Dml_User": CHAT_DML_SET}


@pytest.fixture
def org(fake_org: FakeSalesforce) -> SalesforceGateway:
    return jwt_gateway(fake_org)


def suspect_sets(fake: FakeSalesforce) -> set[str]:
    return {
        r["PermissionSetId"]
        for r in fake.rows("PermissionSetAssignment")
        if r["AssigneeId"] == SUSPECT_USER_ID and not r["PermissionSet"]["IsOwnedByProfile"]
    }


def test_an_fm_config_change_reads_the_fields_type_sends_it_typed_and_refreshes(
    org: SalesforceGateway, fake_org: FakeSalesforce
) -> None:
    change = {"record": RECORD, "fields": {"orgChatDmlEnabled__c": "false", "pipelineMaxIterations__c": "5"}}
    prior = FM_CONFIG.prepare(org, change)
    assert prior == {"orgChatDmlEnabled__c": True, "pipelineMaxIterations__c": 25.0}  # only the changed fields
    assert FM_CONFIG.read_back(org, change, prior) == ReadBack(
        False, "read back orgChatDmlEnabled__c = true, pipelineMaxIterations__c = 25"
    )
    done = FM_CONFIG.apply(org, change, prior)
    assert done == "FM_Config.Default: orgChatDmlEnabled__c = false, pipelineMaxIterations__c = 5"
    held = fake_org.metadata[RECORD]
    assert held["orgChatDmlEnabled__c"] is False and held["pipelineMaxIterations__c"] == 5.0
    assert held["defaultProvider__c"] == "anthropic"  # the other fields kept
    assert not fake_org.apex
    assert FM_CONFIG.finish(org, change) == "FMConfig.refresh() ran."
    assert fake_org.apex == ["FMConfig.refresh();"]
    assert FM_CONFIG.read_back(org, change, prior) == ReadBack(
        True, "read back orgChatDmlEnabled__c = false, pipelineMaxIterations__c = 5"
    )
    held["pipelineMaxIterations__c"] = 7.0  # someone else changed one of them meanwhile
    assert FM_CONFIG.read_back(org, change, prior).applied is None
    held["pipelineMaxIterations__c"] = 25.0  # half of the change undone
    assert FM_CONFIG.read_back(org, change, prior).applied is None


def test_an_fm_config_change_of_a_field_the_record_lacks_is_refused_before_sending(
    org: SalesforceGateway, fake_org: FakeSalesforce
) -> None:
    change = {"record": RECORD, "fields": {"orgChatDmlEnabled__c": False, "noSuchField__c": True, "other__c": 1}}
    with pytest.raises(RequestError, match=r"^FM_Config\.Default has no field noSuchField__c, other__c\.$"):
        FM_CONFIG.prepare(org, change)
    assert fake_org.metadata_updates == 0


def test_the_fm_config_panel_says_what_the_org_holds_or_why_it_cannot(
    org: SalesforceGateway, fake_org: FakeSalesforce
) -> None:
    off = FmConfigChange(type="fm_config", field="orgChatDmlEnabled__c", value=False)
    notice = FmConfigChange(type="fm_config", field="orgChatNotice__c", value="x")
    assert FM_CONFIG.state(org, off, SETUP) == "now: orgChatDmlEnabled__c = true"
    assert FM_CONFIG.state(org, notice, SETUP) == "now: orgChatNotice__c = (empty)"
    unset = OrgSetup(fm_config_record=None)
    assert FM_CONFIG.state(org, off, unset) == "which FM_Config record to change is not set (FM_CONFIG_RECORD)"
    fake_org.inject("/Soap/m/", "limit")
    state = FM_CONFIG.state(org, off, SETUP)
    assert state.startswith("state unknown: ") and "REQUEST_LIMIT_EXCEEDED" in state


def test_a_lockout_deletes_each_assignment_it_read_and_reads_none_left(
    org: SalesforceGateway, fake_org: FakeSalesforce
) -> None:
    prior = PERMISSION_SETS.prepare(org, LOCKOUT)
    assert prior["assignments"] == SETS and len(prior["ids"]) == 2
    assert PERMISSION_SETS.read_back(org, LOCKOUT, prior) == ReadBack(
        False, "2 assignment(s) left: FlowMason_Org_Chat_User, FlowMason_Org_Chat_Dml_User"
    )
    assert PERMISSION_SETS.apply(org, LOCKOUT, prior) == "deleted 2 permission set assignment(s)."
    assert sorted(path.rsplit("/", 1)[1] for verb, path in fake_org.calls if verb == "DELETE") == sorted(prior["ids"])
    assert suspect_sets(fake_org) == set()
    assert PERMISSION_SETS.read_back(org, LOCKOUT, prior) == ReadBack(True, "0 assignment(s) left")
    assert any(r["AssigneeId"] == SUSPECT_USER_ID for r in fake_org.rows("PermissionSetAssignment"))  # the profile's


def test_a_lockout_half_done_is_neither_verified_nor_not_applied(
    org: SalesforceGateway, fake_org: FakeSalesforce
) -> None:
    prior = PERMISSION_SETS.prepare(org, LOCKOUT)
    rows = fake_org.rows("PermissionSetAssignment")
    rows[:] = [r for r in rows if r["Id"] != prior["ids"][0]]
    assert PERMISSION_SETS.read_back(org, LOCKOUT, prior).applied is None
    assert PERMISSION_SETS.read_back(org, LOCKOUT, prior).seen.startswith("1 assignment(s) left: ")


def test_a_lockouts_revert_assigns_the_sets_again_and_reads_them_in_place(
    org: SalesforceGateway, fake_org: FakeSalesforce
) -> None:
    prior = PERMISSION_SETS.prepare(org, LOCKOUT)
    PERMISSION_SETS.apply(org, LOCKOUT, prior)
    revert = PERMISSION_SETS.revert(LOCKOUT, prior)
    before = PERMISSION_SETS.prepare(org, revert)
    assert before == {"assignments": {}, "ids": []}
    assert PERMISSION_SETS.read_back(org, revert, before) == ReadBack(False, "0 of 2 assignment(s) in place")
    fake_org.inject(r"/sobjects/PermissionSetAssignment", "undone", skip=1)  # the second create is undone
    assert PERMISSION_SETS.apply(org, revert, before) == "re-assigned 2 permission set(s)."
    assert suspect_sets(fake_org) == {CHAT_USER_SET}
    assert PERMISSION_SETS.read_back(org, revert, before) == ReadBack(None, "1 of 2 assignment(s) in place")
    PERMISSION_SETS.apply(org, {"user_id": SUSPECT_USER_ID, "restore": {"x": CHAT_DML_SET}}, before)
    assert suspect_sets(fake_org) == {CHAT_USER_SET, CHAT_DML_SET}
    assert PERMISSION_SETS.read_back(org, revert, before) == ReadBack(True, "2 of 2 assignment(s) in place")


def test_a_cron_abort_counts_the_jobs_before_and_after(org: SalesforceGateway, fake_org: FakeSalesforce) -> None:
    change = {"job_name": NIGHTLY}
    config = CronAbort(type="abort_cron", job_name=NIGHTLY)
    prior = CRON.prepare(org, change)
    assert prior == {"scheduled": 1}
    assert CRON.state(org, config, SETUP) == "now: scheduled (WAITING)"
    assert CRON.read_back(org, change, prior) == ReadBack(False, f"1 scheduled job(s) named {NIGHTLY} left")
    assert CRON.read_back(org, change, {"scheduled": 2}).applied is None  # one of two aborted
    assert CRON.apply(org, change, prior) == "the Apex compiled and ran."
    assert [apex for apex in fake_org.apex if "System.abortJob" in apex] == [CRON.manual(config, SETUP)]
    assert CRON.read_back(org, change, prior) == ReadBack(True, f"0 scheduled job(s) named {NIGHTLY} left")
    assert CRON.state(org, config, SETUP) == "now: not scheduled"
    fake_org.inject("query", "limit")
    state = CRON.state(org, config, SETUP)
    assert state.startswith("state unknown: ") and "REQUEST_LIMIT_EXCEEDED" in state


def test_a_provider_switch_reads_callout_status_until_a_person_changes_it(
    org: SalesforceGateway, fake_org: FakeSalesforce
) -> None:
    config = NamedCredentialSwitch(type="named_credential")
    change = {"developer_name": "OpenAI_API", "status": "Disabled"}
    prior = NAMED_CREDENTIAL.prepare(org, change)
    assert prior == {"calloutStatus": "Enabled"}
    assert NAMED_CREDENTIAL.read_back(org, change, prior) == ReadBack(False, "OpenAI_API calloutStatus = Enabled")
    fake_org.set_callout_status("OpenAI_API", "Disabled")
    assert NAMED_CREDENTIAL.read_back(org, change, prior) == ReadBack(True, "OpenAI_API calloutStatus = Disabled")
    fake_org.set_callout_status("OpenAI_API", "Pending")  # neither what it was nor what was asked
    assert NAMED_CREDENTIAL.read_back(org, change, prior).applied is None
    assert NAMED_CREDENTIAL.state(org, config, SETUP) == (
        "now: anthropic: Anthropic_API Enabled; openai: OpenAI_API Pending"
    )
    missing = OrgSetup(None, {"anthropic": "Anthropic_API", "gemini": "Gemini_API"})
    state = NAMED_CREDENTIAL.state(org, config, missing)
    assert state.startswith("now: anthropic: Anthropic_API Enabled; gemini: Gemini_API unknown (")


def test_a_provider_switch_without_the_setting_lists_the_orgs_named_credentials(
    org: SalesforceGateway, fake_org: FakeSalesforce
) -> None:
    config = NamedCredentialSwitch(type="named_credential")
    unset = OrgSetup(None)
    field = NAMED_CREDENTIAL.form(config, unset, {"provider": "openai"}, org)[0]
    assert field.options == (("Anthropic_API", "Anthropic API"), ("OpenAI_API", "OpenAI API"))  # by their labels
    assert field.initial is None
    asked = len(fake_org.calls_to("named-credential-setup$"))
    configured = NAMED_CREDENTIAL.form(config, SETUP, {}, org)[0]
    assert [value for value, _ in configured.options] == ["Anthropic_API", "OpenAI_API"]
    assert len(fake_org.calls_to("named-credential-setup$")) == asked == 1  # the setting is used, the org not asked
    fake_org.inject("named-credential-setup", "limit")
    with pytest.raises(RequestError, match=r"^The bot knows no Named Credential to offer"):
        NAMED_CREDENTIAL.form(config, unset, {}, org)
    with pytest.raises(SalesforceError):
        org.named_credential("Gemini_API")
