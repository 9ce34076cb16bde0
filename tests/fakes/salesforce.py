"""A fake FlowMason org over HTTPS on loopback, with a self-signed certificate made per run.

It speaks OAuth (JWT bearer, checked against the connected app's public key, and the username-password
grant), the SOAP partner login, REST query (aggregates included, paged by nextRecordsUrl), the Tooling API's
query and executeAnonymous, sObject create (platform events answer OPERATION_ENQUEUED) and delete, and the
Metadata API's readMetadata / updateMetadata for custom metadata. Queries go through `tests/fakes/soql.py`,
which refuses what a real org refuses. Anonymous Apex is recognised by the statements the runbook uses, and
changes the org's state the way the real Apex would.

Faults are injected per path: `timeout` (answered 3 s late, the work done), `dropped` (3 s, then 504, the
work never done), `slow_answer` (the work done at once, the answer 3 s late), `slow` (0.5 s), an HTTP status,
`limit` (REQUEST_LIMIT_EXCEEDED), `expire` (every session becomes invalid), `refuse_login`, `apex_exception`.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import re
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.core.salesforce_id import to_18
from tests.certificates import private_key_pem, self_signed
from tests.fakes.loopback import LoopbackService
from tests.fakes.soql import Org, SObject, SoqlError

USERNAME = "incident-bot@flowmason.test"
PASSWORD = "correct-horse"
SECURITY_TOKEN = "SECTOKEN"
CONSUMER_KEY = "3MVG9fake.consumer.key"
CONSUMER_SECRET = "fake-consumer-secret"
BOT_USER_ID = to_18("005000000000001")
SUSPECT_USER_ID = to_18("005000000000ABC")  # 005000000000ABCAA2
OTHER_USER_ID = to_18("005000000000XYZ")
CHAT_USER_SET = to_18("0PS000000000001")
CHAT_DML_SET = to_18("0PS000000000002")
PROFILE_SET = to_18("0PS000000000003")
BOT_PROFILE_SET = to_18("0PS000000000009")
BOT_PERMISSIONS = (
    "PermissionsApiEnabled",
    "PermissionsAuthorApex",
    "PermissionsViewSetup",
    "PermissionsCustomizeApplication",
    "PermissionsAssignPermissionSets",
)
PERMISSION_SETS = {CHAT_USER_SET: "FlowMason_Org_Chat_User", CHAT_DML_SET: "FlowMason_Org_Chat_Dml_User"}
NOW = dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)
PAGE_SIZE = 2000
LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."
APEX_URL_LIMIT = 16 * 1024
MD = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _id(prefix: str, number: int) -> str:
    return to_18(f"{prefix}{number:012d}")


@dataclass
class Fault:
    path: str  # a regular expression searched in the request path
    kind: str  # timeout, slow, slow_answer, limit, expire, refuse_login, apex_exception, undone, or an HTTP status
    times: int = 1
    skip: int = 0  # matching requests let through before the fault applies


def seed_objects(now: dt.datetime = NOW) -> dict[str, SObject]:
    """The org's data around `now`: a failing last hour, a rate-limit storm, a suspect, a full queue."""
    ids = itertools.count(1)

    def at(minutes_ago: float) -> dt.datetime:
        return now - dt.timedelta(minutes=minutes_ago)

    executions = []
    for hour in range(6):  # the error-rate trend: more failures in the last hours
        failed, succeeded = [(1, 40), (1, 38), (2, 41), (4, 35), (9, 30), (12, 30)][hour]
        base = (5 - hour) * 60 + 5
        for index in range(failed):
            executions.append(
                {
                    "Id": _id("a01", next(ids)),
                    "ExecutionId__c": f"EXE-{hour}-{index}",
                    "Status__c": "Failed",
                    "LastModifiedDate": at(base + index),
                    "CreatedDate": at(base + 30),
                }
            )
        for index in range(succeeded):
            executions.append(
                {
                    "Id": _id("a01", next(ids)),
                    "ExecutionId__c": f"EXS-{hour}-{index}",
                    "Status__c": "Succeeded",
                    "LastModifiedDate": at(base + index % 50),
                    "CreatedDate": at(base + 50),
                }
            )
    audits = [
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "org_chat_turn",
            "Actor_Id__c": SUSPECT_USER_ID,
            "Error_Code__c": None,
            "Detail__c": "SELECT Id, Email FROM Contact LIMIT 9999",
            "CreatedDate": at(20),
        },
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "org_chat_turn",
            "Actor_Id__c": SUSPECT_USER_ID,
            "Error_Code__c": None,
            "Detail__c": "SELECT Id FROM Opportunity LIMIT 9999",
            "CreatedDate": at(50),
        },
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "org_chat_turn",
            "Actor_Id__c": OTHER_USER_ID,
            "Error_Code__c": None,
            "Detail__c": "SELECT Name FROM Account LIMIT 10",
            "CreatedDate": at(30),
        },
        # `_` is a wildcard in LIKE: only an escaped pattern leaves this row out
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "orgXchat_turn",
            "Actor_Id__c": OTHER_USER_ID,
            "Error_Code__c": None,
            "Detail__c": "SELECT Id FROM Lead LIMIT 9999",
            "CreatedDate": at(25),
        },
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "org_chat_turn",
            "Actor_Id__c": SUSPECT_USER_ID,
            "Error_Code__c": None,
            "Detail__c": "SELECT Id FROM Case LIMIT 9999",
            "CreatedDate": at(7 * 60),
        },
    ]
    audits.append(  # the suspect's history: Opportunity queried before, so only Contact is new in the last 6 h
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "org_chat_turn",
            "Actor_Id__c": SUSPECT_USER_ID,
            "Error_Code__c": None,
            "Detail__c": "SELECT Name FROM Opportunity LIMIT 10",
            "CreatedDate": at(60 * 24 * 10),
        }
    )
    for minute in (15, 16, 17):  # the validator refusing the suspect's DML three times
        audits.append(
            {
                "Id": _id("a02", next(ids)),
                "Action__c": "org_chat_turn_error",
                "Actor_Id__c": SUSPECT_USER_ID,
                "Error_Code__c": "SOQL_VALIDATOR_REJECTED",
                "Detail__c": "UPDATE Contact SET Email = null",
                "CreatedDate": at(minute),
            }
        )
    for minute in (62, 70, 85, 100):  # Org Chat failing in the hour before the last: 4 errors in 5 turns
        audits.append(
            {
                "Id": _id("a02", next(ids)),
                "Action__c": "org_chat_turn_error",
                "Actor_Id__c": OTHER_USER_ID,
                "Error_Code__c": "PROVIDER_5XX",
                "Detail__c": "Anthropic 529",
                "CreatedDate": at(minute),
            }
        )
    audits.append(
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "org_chat_turn",
            "Actor_Id__c": OTHER_USER_ID,
            "Error_Code__c": None,
            "Detail__c": "SELECT Name FROM Account LIMIT 5",
            "CreatedDate": at(110),
        }
    )
    for index in range(20):
        audits.append(
            {
                "Id": _id("a02", next(ids)),
                "Action__c": "pipeline_run",
                "Actor_Id__c": SUSPECT_USER_ID,
                "Error_Code__c": "VENDOR_RATE_LIMIT",
                "Detail__c": "429",
                "Pipeline_Id__c": "PL-ENRICH-LEADS",  # looping
                "CreatedDate": at(index * 2 + 1),
            }
        )
    for index in range(2):
        audits.append(
            {
                "Id": _id("a02", next(ids)),
                "Action__c": "pipeline_run",
                "Actor_Id__c": OTHER_USER_ID,
                "Error_Code__c": "VENDOR_RATE_LIMIT",
                "Detail__c": "429",
                "Pipeline_Id__c": "PL-SUMMARISE-CASES",
                "CreatedDate": at(index * 5 + 1),
            }
        )
    stage_logs = [
        {
            "Id": _id("a03", next(ids)),
            "Stage_Type__c": "llm_anthropic",
            "Status__c": "Failed",
            "Provider_Response__c": "HTTP 529 overloaded",
            "Error_Message__c": "Anthropic overloaded",
            "Started_At__c": at(minute),
        }
        for minute in (3, 9, 15)
    ] + [
        {
            "Id": _id("a03", next(ids)),
            "Stage_Type__c": "llmXtool",
            "Status__c": "Failed",
            "Provider_Response__c": "",
            "Error_Message__c": "decoy",
            "Started_At__c": at(4),
        },
        {
            "Id": _id("a03", next(ids)),
            "Stage_Type__c": "llm_openai",
            "Status__c": "Failed",
            "Provider_Response__c": "HTTP 500",
            "Error_Message__c": "old",
            "Started_At__c": at(200),
        },
    ]
    # Anthropic worked until it died (more successes than OpenAI in the hour); OpenAI works
    stage_logs += [
        {
            "Id": _id("a03", next(ids)),
            "Stage_Type__c": provider,
            "Status__c": "Succeeded",
            "Provider_Response__c": "HTTP 200",
            "Error_Message__c": "",
            "Started_At__c": at(minute),
        }
        for provider, minutes in (("llm_anthropic", range(30, 54, 3)), ("llm_openai", range(2, 14, 2)))
        for minute in minutes
    ]
    dml = [
        {
            "Id": _id("a04", next(ids)),
            "Actor_Id__c": SUSPECT_USER_ID,
            "Operation__c": "update",
            "Sobject_Type__c": "Contact",
            "Record_Count__c": 500,
            "Diff_Json__c": '{"Email": "x"}',
            "Filter_Used__c": "Id != null",
            "CreatedDate": at(60 * 24 * 2),
        },
        {
            "Id": _id("a04", next(ids)),
            "Actor_Id__c": SUSPECT_USER_ID,
            "Operation__c": "delete",
            "Sobject_Type__c": "Contact",
            "Record_Count__c": 20,
            "Diff_Json__c": "{}",
            "Filter_Used__c": "CreatedDate = TODAY",
            "CreatedDate": at(60 * 24 * 10),
        },
        *(
            {
                "Id": _id("a04", next(ids)),
                "Actor_Id__c": SUSPECT_USER_ID,
                "Operation__c": "update",
                "Sobject_Type__c": "Contact",
                "Record_Count__c": 200,
                "Diff_Json__c": '{"Email": "y"}',
                "Filter_Used__c": "Id != null",
                "CreatedDate": at(minute),
            }
            for minute in (40, 45)
        ),
        {
            "Id": _id("a04", next(ids)),
            "Actor_Id__c": OTHER_USER_ID,
            "Operation__c": "insert",
            "Sobject_Type__c": "Task",
            "Record_Count__c": 1,
            "Diff_Json__c": "{}",
            "Filter_Used__c": "",
            "CreatedDate": at(60),
        },
    ]
    assignments = [
        {
            "Id": _id("0Pa", 1),
            "AssigneeId": SUSPECT_USER_ID,
            "PermissionSetId": CHAT_USER_SET,
            "PermissionSet": {"Id": CHAT_USER_SET, "Name": "FlowMason_Org_Chat_User", "IsOwnedByProfile": False},
        },
        {
            "Id": _id("0Pa", 2),
            "AssigneeId": SUSPECT_USER_ID,
            "PermissionSetId": CHAT_DML_SET,
            "PermissionSet": {"Id": CHAT_DML_SET, "Name": "FlowMason_Org_Chat_Dml_User", "IsOwnedByProfile": False},
        },
        {
            "Id": _id("0Pa", 3),
            "AssigneeId": SUSPECT_USER_ID,
            "PermissionSetId": PROFILE_SET,
            "PermissionSet": {"Id": PROFILE_SET, "Name": "FlowMason_Org_Chat_User", "IsOwnedByProfile": True},
        },
        {
            "Id": _id("0Pa", 4),
            "AssigneeId": OTHER_USER_ID,
            "PermissionSetId": CHAT_USER_SET,
            "PermissionSet": {"Id": CHAT_USER_SET, "Name": "FlowMason_Org_Chat_User", "IsOwnedByProfile": False},
        },
    ]
    assignments.append(
        {
            "Id": _id("0Pa", 9),
            "AssigneeId": BOT_USER_ID,
            "PermissionSetId": BOT_PROFILE_SET,
            "PermissionSet": {"Id": BOT_PROFILE_SET, "Name": "X00e_integration", "IsOwnedByProfile": True},
        }
    )
    permission_sets = [
        {
            "Id": BOT_PROFILE_SET,
            "Name": "X00e_integration",
            "IsOwnedByProfile": True,
            **dict.fromkeys(BOT_PERMISSIONS, True),
        },
        {
            "Id": CHAT_USER_SET,
            "Name": "FlowMason_Org_Chat_User",
            "IsOwnedByProfile": False,
            **dict.fromkeys(BOT_PERMISSIONS, False),
        },
    ]
    crons = [
        {"Id": _id("08e", 1), "State": "WAITING", "CronJobDetail": {"Name": "FM Org Inventory Nightly"}},
        {"Id": _id("08e", 2), "State": "WAITING", "CronJobDetail": {"Name": "FM Telemetry Rollup"}},
    ]
    return {
        "PipelineExecution__c": SObject(
            "PipelineExecution__c",
            {
                "Id": "id",
                "ExecutionId__c": "string",
                "Status__c": "string",
                "LastModifiedDate": "datetime",
                "CreatedDate": "datetime",
            },
            executions,
        ),
        "FM_Run_Audit__c": SObject(
            "FM_Run_Audit__c",
            {
                "Id": "id",
                "Action__c": "string",
                "Actor_Id__c": "string",
                "Error_Code__c": "string",
                "Detail__c": "textarea",
                "CreatedDate": "datetime",
                "Pipeline_Id__c": "string",
            },
            audits,
        ),
        "Pipeline_Stage_Log__c": SObject(
            "Pipeline_Stage_Log__c",
            {
                "Id": "id",
                "Stage_Type__c": "string",
                "Status__c": "string",
                "Provider_Response__c": "textarea",
                "Error_Message__c": "textarea",
                "Started_At__c": "datetime",
            },
            stage_logs,
        ),
        "FM_Org_Chat_Dml_Audit__c": SObject(
            "FM_Org_Chat_Dml_Audit__c",
            {
                "Id": "id",
                "Actor_Id__c": "string",
                "Operation__c": "string",
                "Sobject_Type__c": "string",
                "Record_Count__c": "number",
                "Diff_Json__c": "textarea",
                "Filter_Used__c": "textarea",
                "CreatedDate": "datetime",
            },
            dml,
        ),
        "FM_Circuit_Queue__c": SObject(
            "FM_Circuit_Queue__c",
            {"Id": "id", "CreatedDate": "datetime"},
            # climbing: 3 rows from 5 hours ago, 8 from 2 hours ago, 26 in the last hour
            [{"Id": _id("a05", n), "CreatedDate": at(300 if n < 3 else 125 if n < 11 else 2 + n)} for n in range(37)],
        ),
        "PermissionSetAssignment": SObject(
            "PermissionSetAssignment",
            {"Id": "id", "AssigneeId": "reference", "PermissionSetId": "reference", "PermissionSet": "reference"},
            assignments,
        ),
        "PermissionSet": SObject(
            "PermissionSet",
            {"Id": "id", "Name": "string", "IsOwnedByProfile": "boolean", **dict.fromkeys(BOT_PERMISSIONS, "boolean")},
            permission_sets,
        ),
        "CronTrigger": SObject("CronTrigger", {"Id": "id", "State": "string", "CronJobDetail": "reference"}, crons),
    }


STORM_USER_ID = to_18("005000000000STM")


def seed_rate_limit_storm(now: dt.datetime = NOW) -> dict[str, SObject]:
    """A rate-limit storm and nothing else: 412 `VENDOR_RATE_LIMIT` errors in the last hour, 380 from one user;
    38% of the hour's executions failed (160 of 421); one failed LLM stage, a quiet circuit queue, Org Chat turns
    without huge LIMITs, audit rows up to the last minute. The rest of the org is the usual one."""
    objects = seed_objects(now)
    ids = itertools.count(10_000)

    def at(minutes_ago: float) -> dt.datetime:
        return now - dt.timedelta(minutes=minutes_ago)

    executions = []
    for hour, (failed, succeeded) in enumerate([(160, 261), (2, 40), (1, 41), (1, 39), (0, 40), (1, 38)]):
        for index in range(failed + succeeded):
            executions.append(
                {
                    "Id": _id("a01", next(ids)),
                    "ExecutionId__c": f"STORM-{hour}-{index}",
                    "Status__c": "Failed" if index < failed else "Succeeded",
                    "LastModifiedDate": at(hour * 60 + 0.5 + (index % 59)),
                    "CreatedDate": at(hour * 60 + 1 + (index % 59)),
                }
            )
    audits = [
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "pipeline_run",
            "Actor_Id__c": STORM_USER_ID if index < 380 else OTHER_USER_ID,
            "Error_Code__c": "VENDOR_RATE_LIMIT",
            "Detail__c": "429 Too Many Requests",
            "Pipeline_Id__c": "PL-ENRICH-LEADS",
            "CreatedDate": at(0.5 + (index % 58)),
        }
        for index in range(412)
    ]
    audits += [
        {
            "Id": _id("a02", next(ids)),
            "Action__c": "org_chat_turn",
            "Actor_Id__c": OTHER_USER_ID,
            "Error_Code__c": None,
            "Detail__c": "SELECT Name FROM Account LIMIT 10",
            "CreatedDate": at(minute),
        }
        for minute in (1, 12, 30)
    ]
    stage_logs = [
        {
            "Id": _id("a03", next(ids)),
            "Stage_Type__c": "llm_anthropic",
            "Status__c": "Failed" if minute == 7 else "Succeeded",
            "Provider_Response__c": "HTTP 429" if minute == 7 else "HTTP 200",
            "Error_Message__c": "",
            "Started_At__c": at(minute),
        }
        for minute in (3, 7, 11, 19)
    ]
    objects["PipelineExecution__c"].rows = executions
    objects["FM_Run_Audit__c"].rows = audits
    objects["Pipeline_Stage_Log__c"].rows = stage_logs
    objects["FM_Org_Chat_Dml_Audit__c"].rows = []
    objects["FM_Circuit_Queue__c"].rows = [{"Id": _id("a05", n), "CreatedDate": at(20 + n)} for n in range(2)]
    return objects


def seed_busy_org_chat(now: dt.datetime, turns: int, huge: tuple[int, ...]) -> dict[str, SObject]:
    """The rate-limit storm's org with `turns` more Org Chat turns over the last 5½ hours, newest first; the turns
    numbered in `huge` (0 the newest) asked for LIMIT 9999."""
    objects = seed_rate_limit_storm(now)
    step = dt.timedelta(minutes=330) / turns
    objects["FM_Run_Audit__c"].rows += [
        {
            "Id": _id("a06", index),
            "Action__c": "org_chat_turn",
            "Actor_Id__c": SUSPECT_USER_ID if index in huge else OTHER_USER_ID,
            "Error_Code__c": None,
            "Detail__c": ("SELECT Id FROM Contact LIMIT 10", "SELECT Id FROM Contact LIMIT 9999")[index in huge],
            "CreatedDate": now - step * (index + 1),
        }
        for index in range(turns)
    ]
    return objects


def seed_tooling() -> dict[str, SObject]:
    return {
        "ApexTrigger": SObject(
            "ApexTrigger",
            {"Id": "id", "Name": "string", "Status": "string"},
            [
                {"Id": _id("01q", 1), "Name": "FlowMasonRunSubscriber", "Status": "Active"},
                {"Id": _id("01q", 2), "Name": "FMCircuitDrain", "Status": "Active"},
            ],
        )
    }


# FM_Config's fields as a real org types them: checkboxes, a picklist and text, a number, an empty text field.
FM_CONFIG_TYPES = {
    "orgChatSurfacesEnabled__c": "string",
    "orgChatDmlEnabled__c": "boolean",
    "orgChatToolCallingEnabled__c": "boolean",
    "defaultProvider__c": "string",
    "pipelineMaxIterations__c": "double",
    "orgChatNotice__c": "string",
}
FM_CONFIG_FIELDS: dict[str, bool | float | str | None] = {
    "orgChatSurfacesEnabled__c": "all",
    "orgChatDmlEnabled__c": True,
    "orgChatToolCallingEnabled__c": True,
    "defaultProvider__c": "anthropic",
    "pipelineMaxIterations__c": 25.0,
    "orgChatNotice__c": None,
}
NAMED_CREDENTIALS = {
    "Anthropic_API": "https://api.anthropic.com",
    "OpenAI_API": "https://api.openai.com",
}


@dataclass
class FakeSalesforce(LoopbackService):
    directory: Path
    now: dt.datetime = NOW
    calls: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cert_file, key_file = self_signed(self.directory, "org")
        app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_file = self.directory / "connected-app.key"
        self.private_key_file.write_bytes(private_key_pem(app_key))
        self.public_key = app_key.public_key()
        self.lock = threading.RLock()
        self.org = Org(seed_objects(self.now), self.now)
        self.tooling = Org(seed_tooling(), self.now)
        self.metadata: dict[str, dict[str, bool | float | str | None]] = {"FM_Config.Default": dict(FM_CONFIG_FIELDS)}
        self.callout_status = dict.fromkeys(NAMED_CREDENTIALS, "Enabled")  # what Setup shows as Enabled for Callouts
        self.valid_tokens: set[str] = set()
        self.logins = 0
        self.refreshes = 0
        self.apex: list[str] = []
        self.cache_keys = ["thread:1", "thread:2", "tool:weather"]
        self.events: list[dict[str, Any]] = []
        self.query_locators: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self.metadata_updates = 0
        self.after_metadata: list[Callable[[bytes], None]] = []  # told of each Metadata API call once answered
        self.query_latency = 0.0  # seconds added to every REST and Tooling query (benchmarks)
        self.in_flight = 0
        self.most_in_flight = 0
        self._ids = itertools.count(1)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        self.serve(self._handler(), tls=context)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def inject(self, path: str, kind: str, times: int = 1, skip: int = 0) -> None:
        with self.lock:
            self.faults.append(Fault(path, kind, times, skip))

    def seed(self, objects: dict[str, SObject]) -> None:
        """Another data set for the org (a scenario, say `seed_rate_limit_storm(fake.now)`)."""
        with self.lock:
            self.org = Org(objects, self.now)

    def issue_token(self) -> str:
        token = f"00D000000000001!{next(self._ids):06d}"
        with self.lock:
            self.valid_tokens.add(token)
        return token

    def rows(self, sobject: str) -> list[dict[str, Any]]:
        return self.org.objects[sobject].rows

    def calls_to(self, pattern: str) -> list[tuple[str, str]]:
        with self.lock:
            return [c for c in self.calls if re.search(pattern, c[1])]

    # ----- HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, content_type, payload = fake.handle(self.command, self.path, dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

            do_GET = do_POST = do_DELETE = do_PATCH = _serve

        return Handler

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if re.search(fault.path, path) and fault.skip > 0:
                    fault.skip -= 1
                    return None
                if re.search(fault.path, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def handle(self, verb: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, Any]:
        with self.lock:
            self.calls.append((verb, path))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return self._handle(verb, path, headers, body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _handle(
        self, verb: str, path: str, headers: dict[str, str], body: bytes, *, faults: bool = True
    ) -> tuple[int, str, Any]:
        """One request; with `faults`, the first injected fault whose path it matches applies to it."""
        fault = self._take_fault(path) if faults else None
        if fault is not None:
            if fault.kind == "timeout":  # answers late: the work is done when the answer finally goes out
                time.sleep(3)
            elif fault.kind == "dropped":  # lost on the way: never processed, the caller hears nothing in time
                time.sleep(3)
                return 504, "text/html", b"<html>Gateway Timeout</html>"
            elif fault.kind == "slow":
                time.sleep(0.5)
            elif fault.kind == "slow_answer":  # does the work, then answers late (a caller may die waiting)
                answer = self._handle(verb, path, headers, body, faults=False)
                time.sleep(3)
                return answer
            elif fault.kind == "limit" and "/Soap/" in path:  # a SOAP fault, as the SOAP and Metadata APIs give it
                return 500, "text/xml", _soap_fault("sf:REQUEST_LIMIT_EXCEEDED", LIMIT_EXCEEDED)
            elif fault.kind == "limit":
                return (
                    403,
                    "application/json",
                    [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
                )
            elif fault.kind == "expire":
                with self.lock:
                    self.valid_tokens.clear()
            elif fault.kind == "undone":  # answers as done, and the org is as before (a trigger, another admin)
                with self.lock:
                    before = copy.deepcopy(self.org.objects)
                answer = self._handle(verb, path, headers, body, faults=False)
                with self.lock:
                    self.org.objects = before
                return answer
            elif fault.kind == "refuse_login":
                return 400, "application/json", {"error": "invalid_grant", "error_description": "user hasn't approved"}
            elif fault.kind.isdigit():
                return int(fault.kind), "text/html", b"<html>Service Unavailable</html>"
        parsed = urlparse(path)
        route = parsed.path
        if route == "/services/oauth2/token":
            return self._oauth(parse_qs(body.decode()))
        if re.fullmatch(r"/services/Soap/u/[\d.]+/?", route):
            return self._soap_login(body)
        if re.fullmatch(r"/services/Soap/m/[\d.]+/?", route):
            answer = self._metadata(body)
            for told in self.after_metadata:
                told(body)
            return answer
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if auth.removeprefix("Bearer ") not in self.valid_tokens:
            return (
                401,
                "application/json",
                [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}],
            )
        if route == "/services/oauth2/userinfo":
            return 200, "application/json", {"user_id": BOT_USER_ID, "organization_id": "00D000000000001AAA"}
        match = re.fullmatch(r"/services/data/v[\d.]+/(tooling/)?(.*?)/?", route)
        if not match:
            return (
                404,
                "application/json",
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )
        tooling, rest = bool(match.group(1)), match.group(2)
        query = parse_qs(parsed.query)
        if rest == "query":
            time.sleep(self.query_latency)
            return self._query(query["q"][0], tooling)
        if rest.startswith("query/"):
            return self._next_page(rest.split("/", 1)[1])
        credential = re.fullmatch(r"named-credentials/named-credential-setup(?:/(\w+))?", rest)
        if credential and verb == "GET":
            return self._named_credentials(credential.group(1), route)
        if tooling and rest == "executeAnonymous":
            if len(path) > APEX_URL_LIMIT:
                return 414, "text/html", b"URI Too Long"
            return self._execute_anonymous(query["anonymousBody"][0], fault)
        sobject = re.fullmatch(r"sobjects/(\w+)(?:/(\w+))?", rest)
        if sobject and verb == "POST":
            return self._create(sobject.group(1), json.loads(body))
        if sobject and verb == "DELETE" and sobject.group(2):
            return self._delete(sobject.group(1), sobject.group(2))
        return 404, "application/json", [{"errorCode": "NOT_FOUND", "message": f"no route {verb} {route}"}]

    # ----- login

    def _session(self) -> dict[str, Any]:
        with self.lock:
            self.logins += 1
        return {
            "access_token": self.issue_token(),
            "instance_url": self.url,
            "token_type": "Bearer",
            "id": f"{self.url}/id/00D000000000001AAA/{BOT_USER_ID}",
            "issued_at": str(int(time.time() * 1000)),
        }

    def _oauth(self, form: dict[str, list[str]]) -> tuple[int, str, Any]:
        grant = form.get("grant_type", [""])[0]
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = jwt.decode(
                    form["assertion"][0],
                    self.public_key,
                    algorithms=["RS256"],
                    audience=[self.url, "https://login.salesforce.com", "https://test.salesforce.com"],
                )
            except jwt.PyJWTError as error:
                return 400, "application/json", {"error": "invalid_grant", "error_description": str(error)}
            if claims.get("iss") != CONSUMER_KEY or claims.get("sub") != USERNAME:
                return (
                    400,
                    "application/json",
                    {"error": "invalid_client_id", "error_description": "client identifier invalid"},
                )
            return 200, "application/json", self._session()
        if grant == "password":
            ok = (
                form.get("client_id") == [CONSUMER_KEY]
                and form.get("client_secret") == [CONSUMER_SECRET]
                and form.get("username") == [USERNAME]
                and form.get("password") == [PASSWORD + SECURITY_TOKEN]
            )
            if not ok:
                return (
                    400,
                    "application/json",
                    {"error": "invalid_grant", "error_description": "authentication failure"},
                )
            return 200, "application/json", self._session()
        return 400, "application/json", {"error": "unsupported_grant_type", "error_description": grant}

    def _soap_login(self, body: bytes) -> tuple[int, str, Any]:
        root = ET.fromstring(body)
        username = root.findtext(".//{urn:partner.soap.sforce.com}username")
        password = root.findtext(".//{urn:partner.soap.sforce.com}password")
        if username != USERNAME or password != PASSWORD + SECURITY_TOKEN:
            fault = (
                '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
                "<soapenv:Fault><faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, "
                "password, security token; or user locked out.</faultstring></soapenv:Fault></soapenv:Body>"
                "</soapenv:Envelope>"
            )
            return 500, "text/xml", fault.encode()
        session = self._session()
        answer = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
            "<soapenv:Body><loginResponse><result>"
            f"<serverUrl>{self.url}/services/Soap/u/62.0/00D000000000001</serverUrl>"
            f"<sessionId>{session['access_token']}</sessionId><userId>{BOT_USER_ID}</userId>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return 200, "text/xml", answer.encode()

    # ----- REST

    def _query(self, soql: str, tooling: bool) -> tuple[int, str, Any]:
        try:
            with self.lock:
                records, total = (self.tooling if tooling else self.org).query(soql)
        except SoqlError as error:
            return 400, "application/json", [{"message": error.message, "errorCode": error.code}]
        if len(records) > PAGE_SIZE:
            locator = f"01g{next(self._ids):015d}"
            self.query_locators[locator] = (records, total)
            return 200, "application/json", self._page(locator, 0)
        return 200, "application/json", {"totalSize": total, "done": True, "records": records}

    def _page(self, locator: str, offset: int) -> dict[str, Any]:
        """One page of 2,000 records, as a real org serves them: the same totalSize on each, a nextRecordsUrl
        (locator-offset) until the last."""
        records, total = self.query_locators[locator]
        page = records[offset : offset + PAGE_SIZE]
        answer: dict[str, Any] = {"totalSize": total, "done": offset + PAGE_SIZE >= len(records), "records": page}
        if not answer["done"]:
            answer["nextRecordsUrl"] = f"/services/data/v62.0/query/{locator}-{offset + PAGE_SIZE}"
        return answer

    def _next_page(self, locator: str) -> tuple[int, str, Any]:
        name, _, offset = locator.partition("-")
        if name not in self.query_locators or not offset.isdigit():
            return 400, "application/json", [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
        return 200, "application/json", self._page(name, int(offset))

    def _create(self, sobject: str, fields: dict[str, Any]) -> tuple[int, str, Any]:
        if sobject == "FlowMasonRun__e":
            with self.lock:
                self.events.append(fields)
                trigger_active = self.tooling.objects["ApexTrigger"].rows[0]["Status"] == "Active"
                if trigger_active:  # the FlowMasonRunSubscriber trigger writes the audit row
                    self.rows("FM_Run_Audit__c").append(
                        {
                            "Id": _id("a02", 9000 + len(self.events)),
                            "Action__c": fields.get("Action__c"),
                            "Actor_Id__c": fields.get("Actor_Id__c"),
                            "Error_Code__c": None,
                            "Detail__c": fields.get("Detail__c"),
                            "CreatedDate": self.now - dt.timedelta(seconds=30),
                            "Pipeline_Id__c": fields.get("Pipeline_Id__c"),
                        }
                    )
            return (
                201,
                "application/json",
                {
                    "id": f"e00{next(self._ids):015d}",
                    "success": True,
                    "errors": [{"statusCode": "OPERATION_ENQUEUED", "message": "a4c1f8f4-…", "fields": []}],
                },
            )
        if sobject == "PermissionSetAssignment" and fields.get("PermissionSetId") in PERMISSION_SETS:
            set_id = fields["PermissionSetId"]
            record_id = _id("0Pa", 100 + next(self._ids))
            with self.lock:
                self.rows("PermissionSetAssignment").append(
                    {
                        "Id": record_id,
                        "AssigneeId": fields["AssigneeId"],
                        "PermissionSetId": set_id,
                        "PermissionSet": {"Id": set_id, "Name": PERMISSION_SETS[set_id], "IsOwnedByProfile": False},
                    }
                )
            return 201, "application/json", {"id": record_id, "success": True, "errors": []}
        return 400, "application/json", [{"errorCode": "NOT_FOUND", "message": f"cannot create {sobject}"}]

    def _delete(self, sobject: str, record_id: str) -> tuple[int, str, Any]:
        with self.lock:
            rows = self.org.objects.get(sobject)
            if rows is None:
                return 404, "application/json", [{"errorCode": "NOT_FOUND", "message": sobject}]
            for row in rows.rows:
                if row["Id"] == record_id:
                    rows.rows.remove(row)
                    return 204, "application/json", b""
        return 404, "application/json", [{"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}]

    # ----- Connect REST: named credentials (calloutStatus from API 59.0; nothing in the API changes it)

    def _named_credential(self, name: str, version: float) -> dict[str, Any]:
        described: dict[str, Any] = {
            "developerName": name,
            "masterLabel": name.replace("_", " "),
            "calloutUrl": NAMED_CREDENTIALS[name],
            "type": "SecuredEndpoint",
        }
        if version >= 59.0:
            described["calloutStatus"] = self.callout_status[name]
        return described

    def _named_credentials(self, name: str | None, route: str) -> tuple[int, str, Any]:
        version = float(re.search(r"/v([\d.]+)/", route).group(1))  # type: ignore[union-attr]
        if version < 58.0:
            return (
                404,
                "application/json",
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )
        if name is None:
            return (
                200,
                "application/json",
                {"namedCredentials": [self._named_credential(n, version) for n in NAMED_CREDENTIALS]},
            )
        if name not in NAMED_CREDENTIALS:
            return 404, "application/json", [{"errorCode": "NOT_FOUND", "message": f"No named credential {name}"}]
        return 200, "application/json", self._named_credential(name, version)

    def set_callout_status(self, name: str, status: str) -> None:
        """A person ticks or clears Enabled for Callouts in Setup."""
        with self.lock:
            self.callout_status[name] = status

    # ----- anonymous Apex, by the statements the runbook uses

    def _execute_anonymous(self, apex: str, fault: Fault | None) -> tuple[int, str, Any]:
        result: dict[str, Any] = {
            "line": -1,
            "column": -1,
            "compiled": True,
            "success": True,
            "compileProblem": None,
            "exceptionStackTrace": None,
            "exceptionMessage": None,
        }
        if (
            apex.count("{") != apex.count("}")
            or apex.count("[") != apex.count("]")
            or not apex.rstrip().endswith((";", "}"))
        ):
            result.update(
                compiled=False,
                success=False,
                line=1,
                column=len(apex.splitlines()[-1]) if apex else 1,
                compileProblem="Unexpected token '<EOF>'.",
            )
            return 200, "application/json", result
        if fault is not None and fault.kind == "apex_exception":
            result.update(
                success=False,
                exceptionMessage="System.LimitException: Too many DML statements: 151",
                exceptionStackTrace="AnonymousBlock: line 1, column 1",
            )
            return 200, "application/json", result
        with self.lock:
            self.apex.append(apex)
            if "FMConfig.refresh();" in apex:
                self.refreshes += 1
            if "Cache.Org.getPartition('local.FMLLMCache')" in apex and "p.remove(k)" in apex:
                self.cache_keys.clear()
            abort = re.search(r"CronJobDetail\.Name = '([^']*)'", apex)
            if abort and "System.abortJob" in apex:
                crons = self.org.objects["CronTrigger"]
                crons.rows = [r for r in crons.rows if r["CronJobDetail"]["Name"] != abort.group(1)]
            since = re.search(r"Datetime\.newInstanceGmt\((\d+), (\d+), (\d+), (\d+), (\d+), (\d+)\)", apex)
            if since and "PipelineQueueable.resume" in apex:
                bound = dt.datetime(*map(int, since.groups()), tzinfo=dt.UTC)
                for row in self.rows("PipelineExecution__c"):
                    if row["Status__c"] == "Failed" and row["LastModifiedDate"] >= bound:
                        row["Status__c"] = "Queued"
        return 200, "application/json", result

    # ----- Metadata API (SOAP)

    def _metadata(self, body: bytes) -> tuple[int, str, Any]:
        root = ET.fromstring(body)
        session = root.findtext(f".//{{{MD}}}sessionId")
        if session not in self.valid_tokens:
            return 500, "text/xml", _soap_fault("sf:INVALID_SESSION_ID", "INVALID_SESSION_ID: Invalid Session ID")
        read = root.find(f".//{{{MD}}}readMetadata")
        if read is not None:
            names = [e.text or "" for e in read.findall(f"{{{MD}}}fullNames")]
            records = "".join(self._metadata_record(name) for name in names)
            return 200, "text/xml", _soap(f"<readMetadataResponse><result>{records}</result></readMetadataResponse>")
        update = root.find(f".//{{{MD}}}updateMetadata")
        if update is not None:
            with self.lock:
                self.metadata_updates += 1
            results = ""
            for metadata in update.findall(f"{{{MD}}}metadata"):
                name = metadata.findtext(f"{{{MD}}}fullName") or ""
                with self.lock:
                    record = self.metadata.get(name)
                    if record is None:
                        results += (
                            f"<result><fullName>{name}</fullName><success>false</success><errors>"
                            "<message>no such record</message><statusCode>INVALID_CROSS_REFERENCE_KEY"
                            "</statusCode></errors></result>"
                        )
                        continue
                    refused = []
                    updated = dict(record)
                    for value in metadata.findall(f"{{{MD}}}values"):
                        field_name = value.findtext(f"{{{MD}}}field") or ""
                        typed, problem = _typed_value(field_name, value.find(f"{{{MD}}}value"))
                        if problem:
                            refused.append(problem)
                        updated[field_name] = typed
                    if refused:
                        errors = "".join(
                            f"<errors><message>{problem}</message><statusCode>FIELD_INTEGRITY_EXCEPTION</statusCode>"
                            "</errors>"
                            for problem in refused
                        )
                        results += f"<result><fullName>{name}</fullName><success>false</success>{errors}</result>"
                        continue
                    record.update(updated)
                results += f"<result><fullName>{name}</fullName><success>true</success></result>"
            return 200, "text/xml", _soap(f"<updateMetadataResponse>{results}</updateMetadataResponse>")
        return 500, "text/xml", _soap_fault("soapenv:Client", "unsupported Metadata API call")

    def _metadata_record(self, name: str) -> str:
        with self.lock:
            record = self.metadata.get(name)
        if record is None:
            return '<records xsi:type="CustomMetadata"/>'
        values = "".join(
            f"<values><field>{field_name}</field>{_value_xml(field_name, value)}</values>"
            for field_name, value in record.items()
        )
        label = name.split(".", 1)[1]
        return (
            f'<records xsi:type="CustomMetadata"><fullName>{name}</fullName><label>{label}</label>'
            f"<protected>false</protected>{values}</records>"
        )


def _value_xml(field_name: str, value: bool | float | str | None) -> str:
    """A custom metadata value as the Metadata API answers it: typed by its field."""
    if value is None:
        return '<value xsi:nil="true"/>'
    kind = FM_CONFIG_TYPES.get(field_name, "string")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f'<value xsi:type="xsd:{kind}">{text}</value>'


def _typed_value(field_name: str, element: ET.Element | None) -> tuple[bool | float | str | None, str]:
    """A value sent to updateMetadata, as its xsi:type says (no type: text); and why the org refuses it, if it does."""
    kind = FM_CONFIG_TYPES.get(field_name, "string")
    if element is None or element.get(f"{{{XSI}}}nil") == "true":
        return None, "" if kind == "string" else f"{field_name}: a {kind} field cannot be empty"
    sent = (element.get(f"{{{XSI}}}type") or "string").rsplit(":", 1)[-1]
    text = element.text or ""
    if sent != kind:
        return None, f"{field_name}: value {text!r} of type {sent} is not valid for a {kind} field"
    if kind == "boolean":
        return text == "true", ""
    if kind == "double":
        return float(text), ""
    return text, ""


def _soap(inner: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="http://soap.sforce.com/2006/04/metadata" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _soap_fault(code: str, message: str) -> bytes:
    return _soap(f"<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{message}</faultstring></soapenv:Fault>")
