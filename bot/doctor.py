"""`incident-bot doctor`: checks the deployment and says, per check, pass, or warn or fail with the one-line
fix (a warning does not make the command fail)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis
import requests
import yaml
from slack_sdk.errors import SlackApiError

from bot.adapters.redis_connection import open_redis
from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.salesforce.login import credentials_from
from bot.adapters.scheduler import executions_queue_name, queue_name
from bot.adapters.slack_api import build_web_client
from bot.adapters.soql import GRANTED_PERMISSIONS, granted_permissions_soql
from bot.app import trackers
from bot.config import Settings, SettingsError
from bot.core.outside import ServiceRefused, ServiceUnavailable
from bot.preflight import slack_problem

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"
PAGERDUTY_KEY = re.compile(r"[0-9A-Za-z]{32}")  # an Events API v2 integration (routing) key
OPSGENIE_KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # ok, but worth changing

    @property
    def label(self) -> str:
        return "WARN" if self.warning else "PASS" if self.ok else "FAIL"


def run_checks(settings: Settings) -> Iterator[Check]:
    checks: list[Callable[[Settings], Check]] = [
        slack_scopes,
        salesforce_login,
        salesforce_permissions,
        redis_persistence,
        worker_running,
        approver_policy,
        audit_signing,
        pager_settings,
        trackers_reachable,
        web_view,
    ]
    for check in checks:
        try:
            yield check(settings)
        except SettingsError as error:
            yield Check(check.__name__.replace("_", " ").capitalize(), False, str(error).removeprefix("Cannot start: "))
        except Exception as error:  # a check that cannot run is a failed check, with what stopped it
            reason = " ".join(str(error).split())[:200]
            yield Check(
                check.__name__.replace("_", " ").capitalize(),
                False,
                f"could not check ({type(error).__name__}: {reason})",
            )


def slack_scopes(settings: Settings) -> Check:
    client = build_web_client(settings.bot_token, settings.slack_api_base_url)
    try:
        answer = client.auth_test()
    except (SlackApiError, OSError) as error:
        return Check("Slack scopes", False, slack_problem(settings, error))
    header = next((v for k, v in answer.headers.items() if k.lower() == "x-oauth-scopes"), "")
    granted = {scope.strip() for scope in str(header).split(",") if scope.strip()}
    wanted = set(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])
    missing = sorted(wanted - granted)
    if missing:
        return Check(
            "Slack scopes",
            False,
            f"the token lacks {', '.join(missing)}: reinstall the app from "
            "manifest.yml (OAuth & Permissions → Reinstall)",
        )
    extra = sorted(granted - wanted)
    note = f"; it also has {', '.join(extra)}, which the bot does not use" if extra else ""
    return Check("Slack scopes", True, f"the token has the {len(wanted)} scopes of manifest.yml{note}")


def _gateway(settings: Settings) -> SalesforceGateway | None:
    credentials = credentials_from(settings)
    return SalesforceGateway(credentials, settings.salesforce_timeout_seconds) if credentials else None


def salesforce_login(settings: Settings) -> Check:
    gateway = _gateway(settings)
    if gateway is None:
        return Check("Salesforce login", True, "not configured: the bot shows SOQL and Apex to run by hand")
    try:
        user = gateway.user_id
        record = f"FM_Config.{settings.fm_config_record}"
        values = gateway.read_custom_metadata(record) if settings.fm_config_record else None
    except SalesforceError as error:
        return Check("Salesforce login", False, f"{error} Check the SALESFORCE_* settings.")
    logged_in = f"logged in as {user} ({settings.salesforce_login})"
    if values is None:
        return Check(
            "Salesforce login",
            False,
            f"{logged_in}; set FM_CONFIG_RECORD to the FM_Config record the kill switches change (its DeveloperName)",
        )
    return Check("Salesforce login", True, f"{logged_in}; {record} has {len(values)} fields")


def salesforce_permissions(settings: Settings) -> Check:
    gateway = _gateway(settings)
    if gateway is None:
        return Check("Salesforce permissions", True, "not configured")
    soql = granted_permissions_soql(gateway.user_id)
    rows = gateway.query(soql).records
    missing = [label for field, label in GRANTED_PERMISSIONS.items() if not any(row.get(field) for row in rows)]
    if missing:
        return Check(
            "Salesforce permissions",
            False,
            "the integration user lacks " + "; ".join(missing) + ": grant them in its permission set",
        )
    return Check("Salesforce permissions", True, "the integration user can do everything the switches need")


def redis_persistence(settings: Settings) -> Check:
    connections = open_redis(settings)
    try:
        persistence = connections.data.info("persistence")
        memory = connections.data.info("memory")
    except redis.RedisError as error:
        return Check("Redis", False, f"unreachable ({error}): check REDIS_URL")
    finally:
        connections.close()
    problems = []
    if not int(persistence.get("aof_enabled", 0)):
        problems.append("turn on append-only persistence (appendonly yes, appendfsync everysec)")
    policy = memory.get("maxmemory_policy", "noeviction")
    if policy != "noeviction":
        problems.append(f"set maxmemory-policy noeviction (it is {policy}: incidents and approvals could be evicted)")
    if problems:
        return Check("Redis", False, "; ".join(problems))
    return Check("Redis", True, "append-only persistence is on and nothing is evicted")


def worker_running(settings: Settings) -> Check:
    """A worker registered on this bot's queues: without one, escalations, expiries, charts and approved kill
    switches wait."""
    from rq import Queue, Worker

    connections = open_redis(settings)
    try:
        queues = [queue_name(settings.key_prefix), executions_queue_name(settings.key_prefix)]
        counts = [
            Worker.count(connection=connections.jobs, queue=Queue(name, connection=connections.jobs)) for name in queues
        ]
    finally:
        connections.close()
    if not all(counts):
        return Check(
            "Worker",
            True,
            "no worker is running for this bot right now: escalations, expiries, charts and approved kill switches "
            "wait for one; start `incident-bot worker` (or `incident-bot run`, which starts one)",
            warning=True,
        )
    return Check("Worker", True, f"{min(counts)} worker(s) serve the bot's queues, approved executions included")


def audit_signing(settings: Settings) -> Check:
    if settings.audit_signing_key is None and not settings.audit_keys:
        return Check(
            "Audit trail",
            True,
            "AUDIT_SIGNING_KEY is not set: the audit trail is sealed with plain SHA-256, which anyone who can write "
            "to Redis can recompute; set it (`openssl rand -hex 32`) in every process",
            warning=True,
        )
    if settings.audit_keys:
        names = ", ".join(key_id for key_id, _ in settings.audit_keys)
        return Check("Audit trail", True, f"sealed with HMAC-SHA256, the newest key of AUDIT_SIGNING_KEYS ({names})")
    return Check("Audit trail", True, "entries and head are sealed with HMAC-SHA256 (AUDIT_SIGNING_KEY)")


def approver_policy(settings: Settings) -> Check:
    """Without a policy any other member of an incident channel approves: in a public incident, anyone who joins."""
    if not (settings.approvers_usergroup or settings.approver_ids):
        return Check(
            "Approvers",
            True,
            "no approver policy: any other member of an incident channel may approve a kill switch (in a public "
            "incident, anyone who joins); set APPROVERS_USERGROUP or APPROVERS",
            warning=True,
        )
    members: set[str] = set(settings.approver_ids)
    if settings.approvers_usergroup:
        client = build_web_client(settings.bot_token, settings.slack_api_base_url)
        try:
            members |= set(client.usergroups_users_list(usergroup=settings.approvers_usergroup)["users"])
        except (SlackApiError, OSError) as error:
            return Check("Approvers", False, slack_problem(settings, error))
    if len(members) < 2:
        return Check(
            "Approvers",
            True,
            f"the approver policy names {len(members)} person right now: requests are refused when nobody but the "
            "requester may approve; add people to APPROVERS_USERGROUP or APPROVERS",
            warning=True,
        )
    return Check("Approvers", True, f"{len(members)} people may approve kill switches")


def pager_settings(settings: Settings) -> Check:
    """The shape of the pager settings, checked without paging anyone: neither service can be asked whether a key
    is good without sending an alert."""
    problems: list[str] = []
    routing_key, opsgenie_key = settings.pagerduty_routing_key, settings.opsgenie_api_key
    if routing_key and not PAGERDUTY_KEY.fullmatch(routing_key.get_secret_value()):
        problems.append(
            "PAGERDUTY_ROUTING_KEY is not an integration key (32 letters and digits, from the service's "
            "Events API v2 integration)"
        )
    if opsgenie_key and not OPSGENIE_KEY.fullmatch(opsgenie_key.get_secret_value()):
        problems.append("OPSGENIE_API_KEY is not an API integration key (a UUID, from the team's API integration)")
    for name, url, used in (
        ("PAGERDUTY_EVENTS_URL", settings.pagerduty_events_url, routing_key),
        ("OPSGENIE_API_URL", settings.opsgenie_api_url, opsgenie_key),
    ):
        address = urlsplit(url)
        if used and address.scheme != "https" and address.hostname not in LOOPBACK:
            problems.append(f"{name} must be an https:// address (the key travels with every page)")
    if problems:
        return Check("Pager", False, "; ".join(problems))
    if not (routing_key or opsgenie_key):
        return Check(
            "Pager",
            True,
            "no pager is set up: a SEV-1 reaches only the people in Slack; set PAGERDUTY_ROUTING_KEY or "
            "OPSGENIE_API_KEY",
            warning=True,
        )
    names = " and ".join(name for name, key in (("PagerDuty", routing_key), ("Opsgenie", opsgenie_key)) if key)
    severities = ", ".join(severity.label for severity in sorted(settings.page_on))
    if routing_key and not settings.pagerduty_webhook_secret:
        return Check(
            "Pager",
            True,
            f"{names} page on {severities}; PAGERDUTY_WEBHOOK_SECRET is not set, so an acknowledgement made in "
            "PagerDuty does not show in the channel",
            warning=True,
        )
    return Check("Pager", True, f"{names} page on {severities}")


def trackers_reachable(settings: Settings) -> Check:
    """Each configured tracker asked something that changes nothing: the repository, the project."""
    found = trackers(settings)
    if not found:
        return Check("Trackers", True, "not configured: action items live in the post-mortem draft")
    seen, problems = [], []
    for tracker in found:
        try:
            seen.append(f"{tracker.name}: {tracker.check()}")
        except (ServiceRefused, ServiceUnavailable) as error:
            problems.append(f"{tracker.name}: {error}")
    if problems:
        return Check("Trackers", False, "; ".join(problems) + "; check the GITHUB_* or JIRA_* settings")
    unsigned = [
        name
        for name, tracker_on, secret in (
            ("GITHUB_WEBHOOK_SECRET", settings.github_token, settings.github_webhook_secret),
            ("JIRA_WEBHOOK_SECRET", settings.jira_api_token, settings.jira_webhook_secret),
        )
        if tracker_on and not secret
    ]
    if unsigned:
        return Check(
            "Trackers",
            True,
            "; ".join(seen) + f"; {', '.join(unsigned)} not set, so what is closed there does not come back",
            warning=True,
        )
    return Check("Trackers", True, "; ".join(seen))


def web_view(settings: Settings) -> Check:
    """Whether the web view is on, whether Slack's signing keys can be read, and whether its address keeps the
    session cookie encrypted. Slack cannot be asked whether the callback is among the app's redirect URLs."""
    if not settings.slack_client_id:
        return Check(
            "Web view",
            True,
            "off: set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, WEB_BASE_URL and WEB_SESSION_SECRET to read incidents "
            "on a web page",
        )
    base = str(settings.web_base_url).rstrip("/")
    try:
        answer = requests.get(settings.slack_openid_keys_url, timeout=10)
        answer.raise_for_status()
        problem = "" if answer.json().get("keys") else "no keys in its answer"
    except requests.HTTPError as error:
        problem = f"HTTP {error.response.status_code}"
    except (requests.RequestException, ValueError, AttributeError) as error:
        problem = type(error).__name__
    if problem:
        return Check(
            "Web view",
            False,
            f"Slack's signing keys at {settings.slack_openid_keys_url} could not be read ({problem}): sign-ins "
            "cannot be verified; check SLACK_OPENID_KEYS_URL and the network",
        )
    callback = f"{base}/auth/slack/callback"
    if urlsplit(base).scheme != "https" and urlsplit(base).hostname not in LOOPBACK:
        return Check(
            "Web view",
            True,
            f"on at {base}, which is not https: the session cookie travels unencrypted; serve it over https",
            warning=True,
        )
    return Check("Web view", True, f"on at {base}; {callback} must be among the Slack app's Redirect URLs")
