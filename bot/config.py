"""Settings from the environment and `.env`, validated once at start; secrets stay `SecretStr`."""

from __future__ import annotations

import os
import re
import sys
from datetime import time
from pathlib import Path
from typing import Annotated, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

import playbooks
from bot.core.severity import Severity

SLACK_API_DEFAULT = "https://slack.com/api/"
MIN_KEY_LENGTH = 32
MIN_MASKED = 4  # shorter "secrets" would mask ordinary words
BUNDLED_PLAYBOOKS = Path(playbooks.__file__).parent


def _prefixed(prefix: str, kind: str) -> AfterValidator:
    def check(value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(rf"{prefix}[A-Za-z0-9-]+", value.get_secret_value()):
            raise ValueError(f"must be {kind}, which starts with {prefix}")
        return value

    return AfterValidator(check)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore")

    # Slack (the bot token is required by the commands that talk to Slack: run, worker, doctor)
    slack_bot_token: Annotated[SecretStr | None, _prefixed("xoxb-", "a bot token")] = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: Annotated[SecretStr | None, _prefixed("xapp-", "an app-level token")] = None
    slack_api_base_url: str = SLACK_API_DEFAULT
    responders_usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]+$")
    second_level_usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]+$")
    escalation_second_level_minutes: int = Field(default=15, ge=1, le=24 * 60)
    update_cadence_sev1_minutes: int = Field(default=30, ge=1, le=24 * 60)
    update_cadence_sev2_minutes: int = Field(default=60, ge=1, le=24 * 60)
    announcements_channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]+$")

    # Redis
    redis_url: SecretStr | None = None
    redis_tls_ca_file: Path | None = None
    data_dir: Path = Path("var")
    key_prefix: str = Field(default="incident-bot", pattern=r"^[A-Za-z0-9_.-]+$")

    # Team
    team_timezone: str = "UTC"
    business_hours: str = "09:00-17:00"
    business_days: str = "mon,tue,wed,thu,fri"

    # Runbook
    playbooks_dir: Path = BUNDLED_PLAYBOOKS
    inventory_harvester_runbook_url: str | None = Field(default=None, pattern=r"^https?://")
    telemetry_dashboard_url: str | None = Field(default=None, pattern=r"^https?://")
    # The FM_Config custom metadata record the switches change: the runbook names none, so no default.
    # What a provider 5xx or timeout looks like in Pipeline_Stage_Log__c's Provider_Response__c or Error_Message__c
    # (a regular expression): the runbook names the fields, not their text. Unset, every failed LLM stage counts.
    provider_failure_pattern: str | None = Field(default=None, max_length=300)
    fm_config_record: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    # Which Named Credential serves which provider (the provider kill switch): `anthropic=Anthropic_API,…`
    provider_named_credentials: str = Field(
        default="",
        pattern=r"^([a-z][a-z0-9_-]*=[A-Za-z][A-Za-z0-9_]*(\s*,\s*[a-z][a-z0-9_-]*=[A-Za-z][A-Za-z0-9_]*)*)?$",
    )

    # Salesforce: JWT bearer (recommended), username + password (+ token), or access token + instance URL
    salesforce_domain: str = Field(default="login", pattern=r"^(login|test|[A-Za-z0-9.-]+|https?://\S+)$")
    salesforce_username: str | None = None
    salesforce_consumer_key: str | None = None
    salesforce_consumer_secret: SecretStr | None = None
    salesforce_private_key_file: Path | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_instance_url: str | None = Field(default=None, pattern=r"^https://\S+$")
    salesforce_access_token: SecretStr | None = None
    salesforce_api_version: str = Field(default="62.0", pattern=r"^\d{2,3}\.0$")
    salesforce_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # The probes on declare and `/incident probe`: a probe with no answer within the budget is "no data"
    probe_budget_seconds: float = Field(default=30.0, gt=0, le=120)

    # Two-person approval: who may approve (a user group and/or users; else the incident channel's members)
    approvers_usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]+$")
    approvers: str = Field(default="", pattern=r"^([UW][A-Z0-9]+(,\s*[UW][A-Z0-9]+)*)?$")
    approval_expiry_minutes: int = Field(default=15, ge=1, le=24 * 60)
    execution_lease_seconds: int = Field(default=120, ge=10, le=3600)
    # How often one Slack message may be updated: changes in between are sent together (chat.update is Tier 3)
    message_update_interval_seconds: float = Field(default=1.0, ge=0.05, le=10)
    # The audit trail's HMAC key (`openssl rand -hex 32`); without it the trail's seals are plain SHA-256
    audit_signing_key: SecretStr | None = None
    # Named keys for rotation, newest first (`2026-12:<key>,2026-06:<key>`): the first seals, all verify;
    # AUDIT_SIGNING_KEY stays the key of the seals made before keys were named
    audit_signing_keys: SecretStr | None = None

    # Paging the on-call: which severities page (declared at, or raised into), through PagerDuty and/or Opsgenie
    page_on_severities: str = Field(default="sev1", pattern=r"^\s*(sev[1-4]\s*(,\s*|$))*$")
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_events_url: str = Field(default="https://events.pagerduty.com/v2/enqueue", pattern=r"^https?://\S+$")
    pagerduty_webhook_secret: SecretStr | None = None
    opsgenie_api_key: SecretStr | None = None
    opsgenie_api_url: str = Field(default="https://api.opsgenie.com", pattern=r"^https?://\S+$")
    # Action items in the team's tracker: GitHub Issues (a token with Issues read and write on the repository)
    # and/or Jira Cloud (an account's email and API token). Each is on when its settings are complete.
    github_token: SecretStr | None = None
    github_repository: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    github_api_url: str = Field(default="https://api.github.com", pattern=r"^https?://\S+$")
    # Slack user id = GitHub login, comma-separated: owners GitHub can assign (others are named in the issue)
    github_users: str = Field(default="", pattern=r"^([UW][A-Z0-9]+=[A-Za-z0-9-]+(,\s*[UW][A-Z0-9]+=[A-Za-z0-9-]+)*)?$")
    github_labels: str = Field(default="", pattern=r"^([^,]{1,50}(,[^,]{1,50})*)?$")
    github_webhook_secret: SecretStr | None = None
    jira_base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    jira_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    jira_api_token: SecretStr | None = None
    jira_project_key: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{1,9}$")
    jira_issue_type: str = Field(default="Task", min_length=1, max_length=60)
    jira_webhook_secret: SecretStr | None = None
    # A private incident's items carry their words into the tracker only when this is true
    tracker_private_incidents: bool = False
    # The time of day (TEAM_TIMEZONE) of the daily digest of overdue action items; unset: no digest
    action_item_reminders: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    # The bot's public address (https://incidents.example.com): links to an incident's page in pages and alerts
    web_base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # The web view (incidents, one incident, insights), signed in with Slack: on when SLACK_CLIENT_ID is set, which
    # then needs SLACK_CLIENT_SECRET, WEB_BASE_URL and WEB_SESSION_SECRET too (the app's Basic Information page)
    slack_client_id: str | None = Field(default=None, pattern=r"^[0-9]+\.[0-9]+$")
    slack_client_secret: SecretStr | None = None
    web_session_secret: SecretStr | None = None
    web_session_hours: int = Field(default=12, ge=1, le=24 * 7)
    slack_openid_authorize_url: str = Field(
        default="https://slack.com/openid/connect/authorize", pattern=r"^https?://\S+$"
    )
    slack_openid_keys_url: str = Field(default="https://slack.com/openid/connect/keys", pattern=r"^https?://\S+$")

    # Vendor status pages (Statuspage v2 summary.json for Anthropic and OpenAI, RSS feeds for AWS and Azure)
    anthropic_status_url: str = "https://status.anthropic.com/api/v2/summary.json"
    openai_status_url: str = "https://status.openai.com/api/v2/summary.json"
    # AWS publishes one Bedrock feed per region (`bedrock-<region>.rss`): the regions your org calls, comma-separated
    bedrock_regions: str = Field(default="", pattern=r"^\s*([a-z]{2}(-[a-z]+)+-\d+\s*(,\s*|$))*$")
    aws_status_feeds_url: str = Field(default="https://status.aws.amazon.com/rss/", pattern=r"^https?://.*/$")
    azure_status_url: str = "https://azure.status.microsoft/en-us/status/feed/"
    status_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # Processes
    # Every interface, as a platform's router (Heroku, a container) reaches the web process; 127.0.0.1 on a laptop
    # whose tunnel (ngrok, cloudflared) connects to localhost
    host: str = Field(default="0.0.0.0", pattern=r"^[0-9A-Za-z.:\[\]-]+$")  # noqa: S104
    port: int = Field(default=3000, ge=1, le=65535)
    web_concurrency: int = Field(default=2, ge=1, le=64)
    log_level: str = Field(default="INFO", pattern=r"^(?i:debug|info|warning|error|critical)$")

    @model_validator(mode="after")
    def _trackers_are_complete(self) -> Settings:
        github = (self.github_token, self.github_repository)
        if any(github) and not all(github):
            raise ValueError("GitHub settings are incomplete: set both GITHUB_TOKEN and GITHUB_REPOSITORY")
        jira = (self.jira_base_url, self.jira_email, self.jira_api_token, self.jira_project_key)
        if any(jira) and not all(jira):
            raise ValueError(
                "Jira settings are incomplete: set JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN and JIRA_PROJECT_KEY"
            )
        return self

    @model_validator(mode="after")
    def _web_view_is_complete(self) -> Settings:
        if self.slack_client_id:
            missing = [
                name.upper()
                for name in ("slack_client_secret", "web_base_url", "web_session_secret")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"the web view (SLACK_CLIENT_ID is set) also needs {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _salesforce_login_is_complete(self) -> Settings:
        mode = self.salesforce_login
        if mode == "partial":
            raise ValueError(
                "Salesforce settings are incomplete: set SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY and "
                "SALESFORCE_PRIVATE_KEY_FILE (JWT), or SALESFORCE_USERNAME and SALESFORCE_PASSWORD (password), or "
                "SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN (token)"
            )
        if mode == "jwt" and self.salesforce_private_key_file and not self.salesforce_private_key_file.is_file():
            raise ValueError(f"SALESFORCE_PRIVATE_KEY_FILE {self.salesforce_private_key_file} is not a readable file")
        return self

    @property
    def salesforce_login(self) -> str | None:
        """jwt, password or token; None when Salesforce is not configured; partial when it is half set."""
        if self.salesforce_username and self.salesforce_consumer_key and self.salesforce_private_key_file:
            return "jwt"
        if self.salesforce_username and self.salesforce_password:
            return "password"
        if self.salesforce_instance_url and self.salesforce_access_token:
            return "token"
        given = [
            self.salesforce_username,
            self.salesforce_consumer_key,
            self.salesforce_private_key_file,
            self.salesforce_password,
            self.salesforce_instance_url,
            self.salesforce_access_token,
        ]
        return "partial" if any(given) else None

    @field_validator("audit_signing_key", "web_session_secret")
    @classmethod
    def _signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_KEY_LENGTH} characters (make one with `openssl rand -hex 32`)")
        return value

    @field_validator("audit_signing_keys")
    @classmethod
    def _signing_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _named_keys(value.get_secret_value())
        return value

    @field_validator("slack_api_base_url")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("provider_failure_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        try:
            return re.compile(value).pattern if value else None
        except re.error as error:
            raise ValueError(f"must be a regular expression ({error})") from None

    @field_validator("team_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA timezone such as Europe/Paris") from None
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        opens, closes = _parse_hours(value)
        if opens >= closes:
            raise ValueError("must open before it closes, e.g. 09:00-17:00")
        return value

    @field_validator("business_days")
    @classmethod
    def _days(cls, value: str) -> str:
        _parse_days(value)
        return value

    @property
    def regions(self) -> list[str]:
        """The Bedrock regions BEDROCK_REGIONS names, in its order."""
        return [region.strip() for region in self.bedrock_regions.split(",") if region.strip()]

    @property
    def step_settings(self) -> dict[str, str | None]:
        """The settings a playbook may name (a link's URL, a filter's pattern), with their values."""
        return {name: getattr(self, name) for name in STEP_SETTINGS}

    @property
    def bot_token(self) -> str:
        """The bot token, for the commands that talk to Slack; a missing one stops them with one sentence."""
        if self.slack_bot_token is None:
            raise SettingsError(f"Cannot start: SLACK_BOT_TOKEN is missing {SET_IT_HOW}.")
        return self.slack_bot_token.get_secret_value()

    @property
    def named_credentials(self) -> dict[str, str]:
        """Provider → Named Credential developer name, as PROVIDER_NAMED_CREDENTIALS gives them."""
        pairs = (part.split("=", 1) for part in self.provider_named_credentials.split(",") if part.strip())
        return {provider.strip(): name.strip() for provider, name in pairs}

    @property
    def audit_key(self) -> bytes | None:
        return self.audit_signing_key.get_secret_value().encode() if self.audit_signing_key else None

    @property
    def audit_keys(self) -> list[tuple[str, bytes]]:
        """AUDIT_SIGNING_KEYS as (id, key), newest first."""
        return _named_keys(self.audit_signing_keys.get_secret_value()) if self.audit_signing_keys else []

    @property
    def secret_values(self) -> list[str]:
        """Every configured secret as it could appear in text (and a Redis URL's password on its own): what the
        logs mask."""
        values = [getattr(self, name).get_secret_value() for name in SECRET_SETTINGS if getattr(self, name)]
        values += [key.decode() for _, key in self.audit_keys]
        if self.redis_url and (password := urlsplit(self.redis_url.get_secret_value()).password):
            values.append(password)
        return [value for value in values if len(value) >= MIN_MASKED]

    @property
    def page_on(self) -> frozenset[Severity]:
        """The severities PAGE_ON_SEVERITIES names."""
        return frozenset(Severity.parse(part) for part in self.page_on_severities.split(",") if part.strip())

    @property
    def github_logins(self) -> dict[str, str]:
        """GITHUB_USERS as Slack user id -> GitHub login."""
        pairs = (part.strip().partition("=") for part in self.github_users.split(",") if part.strip())
        return {user: login for user, _, login in pairs}

    @property
    def reminders_at(self) -> time | None:
        return time.fromisoformat(self.action_item_reminders) if self.action_item_reminders else None

    @property
    def approver_ids(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.approvers.split(",") if part.strip())

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def business_window(self) -> tuple[time, time]:
        return _parse_hours(self.business_hours)

    @property
    def business_weekdays(self) -> frozenset[int]:
        return _parse_days(self.business_days)


# The settings a playbook may name: a link step's URL (`url_setting`), a filter's pattern (`pattern_filter`).
STEP_SETTINGS = tuple(
    name for name in Settings.model_fields if name.endswith(("_runbook_url", "_dashboard_url", "_pattern"))
)
SECRET_SETTINGS = tuple(
    name
    for name, field in Settings.model_fields.items()
    if SecretStr in (field.annotation, *get_args(field.annotation))
)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _named_keys(value: str) -> list[tuple[str, bytes]]:
    keys = []
    for part in value.split(","):
        key_id, _, key = part.strip().partition(":")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", key_id) or len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"must be id:key pairs, newest first, each key at least {MIN_KEY_LENGTH} characters "
                "(such as 2026-12:$(openssl rand -hex 32))"
            )
        keys.append((key_id, key.encode()))
    if len({key_id for key_id, _ in keys}) < len(keys):
        raise ValueError("names a key id twice")
    return keys


def _parse_hours(value: str) -> tuple[time, time]:
    try:
        opens, closes = (time.fromisoformat(part.strip()) for part in value.split("-"))
    except ValueError:
        raise ValueError("must look like 09:00-17:00") from None
    return opens, closes


def _parse_days(value: str) -> frozenset[int]:
    days = [part.strip().lower()[:3] for part in value.split(",") if part.strip()]
    if not days or any(day not in _DAYS for day in days):
        raise ValueError("must be a comma-separated list such as mon,tue,wed,thu,fri")
    return frozenset(_DAYS.index(day) for day in days)


class SettingsError(Exception):
    """Settings are missing or malformed; the message is one sentence naming the variables."""


SET_IT_HOW = "(set it in .env or the environment)"
DEFAULT_ENV_FILE = Path(".env")
# `incident-bot run --env-file PATH` hands the file on to the gunicorn processes it becomes through this variable.
ENV_FILE_VARIABLE = "INCIDENT_BOT_ENV_FILE"


def load_settings(env_file: Path | None = None) -> Settings:
    """Settings from the environment and `env_file` (default: `.env` in this directory, if there is one)."""
    if env_file is not None and not env_file.is_file():
        raise SettingsError(f"Cannot start: the env file {env_file} does not exist.")
    try:
        return Settings(_env_file=env_file or DEFAULT_ENV_FILE)
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


def process_settings() -> Settings:
    """The settings of a server process (gunicorn's master and workers): a problem is one sentence and exit 2."""
    env_file = os.environ.get(ENV_FILE_VARIABLE)
    try:
        return load_settings(Path(env_file) if env_file else None)
    except SettingsError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None


def describe_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        if not item["loc"]:
            problems.append(str(item["msg"]).removeprefix("Value error, "))
            continue
        variable = str(item["loc"][0]).upper()
        if item["type"] == "missing":
            problems.append(f"{variable} is missing")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{variable} {message[0].lower() + message[1:]}")
    return "Cannot start: " + "; ".join(problems) + f" {SET_IT_HOW}."
