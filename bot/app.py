"""The composition root: builds adapters from settings, wires them into services and the Bolt app."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_sdk import WebClient

from bot.adapters.playbook_files import load_runbook
from bot.adapters.redis_connection import RedisConnections, open_redis
from bot.adapters.redis_store import ApprovalStore, AuditStore, IncidentStore, TimelineStore, WalkthroughStore
from bot.adapters.salesforce import SalesforceGateway, credentials_from
from bot.adapters.scheduler import Scheduler
from bot.adapters.slack_api import SlackApi, build_web_client
from bot.adapters.status_pages import StatusPage, StatusPages
from bot.config import Settings
from bot.core.clock import Clock, SystemClock
from bot.core.runbook import Runbook
from bot.core.severity import BusinessCalendar, Severity
from bot.services.incidents import IncidentService
from bot.services.killswitches import ApprovalPolicy, KillSwitchService
from bot.services.lifecycle import LifecycleService
from bot.services.response import ResponsePolicy, ResponseService
from bot.services.runners import SalesforceRunner, VendorStatusRunner
from bot.services.timeline import TimelineService
from bot.services.walkthrough import StepRunner, WalkthroughService
from handlers import register_all
from handlers.guards import answer_failures, replay_guard

# Bolt runs each listener on this pool and answers Slack when the listener calls ack(); the work after the ack
# keeps its thread (a Salesforce call may take up to its timeout), so the pool is sized well above the requests
# in flight: an ack must never wait for a free thread.
LISTENER_THREADS = 128

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    redis: RedisConnections
    slack: SlackApi
    scheduler: Scheduler
    salesforce: SalesforceGateway | None
    salesforce_runner: SalesforceRunner | None
    runbook: Runbook
    timeline: TimelineService
    walkthrough: WalkthroughService
    incidents: IncidentService
    killswitches: KillSwitchService
    lifecycle: LifecycleService
    response: ResponseService
    listeners: ThreadPoolExecutor

    def close(self) -> None:
        """A graceful stop: lets the work already started after an ack finish, then lets Redis go."""
        self.listeners.shutdown(wait=True)
        self.walkthrough.fetches.shutdown(wait=True)
        self.redis.close()


def build_services(settings: Settings, client: WebClient, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    connections = open_redis(settings)
    opens, closes = settings.business_window
    calendar = BusinessCalendar(ZoneInfo(settings.team_timezone), opens, closes, settings.business_weekdays)
    slack = SlackApi(client)
    runbook = load_runbook(settings.playbooks_dir, settings.link_urls)
    store = IncidentStore(connections.data, settings.key_prefix)
    steps = WalkthroughStore(connections.data, settings.key_prefix)
    scheduler = Scheduler(connections.jobs, settings.key_prefix)
    audit = AuditStore(connections.data, settings.key_prefix)
    timeline = TimelineService(TimelineStore(connections.data, settings.key_prefix), audit, store, slack, clock)
    credentials = credentials_from(settings)
    salesforce = SalesforceGateway(credentials, settings.salesforce_timeout_seconds) if credentials else None
    salesforce_runner = (
        SalesforceRunner(salesforce, slack, steps, scheduler, clock, settings.key_prefix) if salesforce else None
    )
    runners: list[StepRunner] = [VendorStatusRunner(status_pages(settings), slack, clock)]
    if salesforce_runner:
        runners.append(salesforce_runner)
    walkthrough = WalkthroughService(
        incidents=store,
        steps=steps,
        timeline=timeline,
        slack=slack,
        runbook=runbook,
        clock=clock,
        timezone=calendar.timezone,
        link_urls=settings.link_urls,
        fm_config_record=settings.fm_config_record,
        runners=runners,
    )
    incidents = IncidentService(
        store=store,
        slack=slack,
        matrix=runbook.severities,
        calendar=calendar,
        clock=clock,
        responders_usergroup=settings.responders_usergroup,
        timeline=timeline,
        walkthrough=walkthrough,
    )
    lifecycle = LifecycleService(
        incidents=incidents,
        timeline=timeline,
        audit=audit,
        steps=steps,
        slack=slack,
        runbook=runbook,
        clock=clock,
        timezone=calendar.timezone,
    )
    killswitches = KillSwitchService(
        incidents=store,
        approvals=ApprovalStore(connections.data, settings.key_prefix),
        audit=audit,
        walkthrough=walkthrough,
        slack=slack,
        gateway=salesforce,
        runbook=runbook,
        scheduler=scheduler,
        clock=clock,
        timezone=calendar.timezone,
        policy=ApprovalPolicy(
            usergroup=settings.approvers_usergroup,
            users=settings.approver_ids,
            expiry=timedelta(minutes=settings.approval_expiry_minutes),
            lease_seconds=settings.execution_lease_seconds,
        ),
        fm_config_record=settings.fm_config_record,
        key_prefix=settings.key_prefix,
        on_contained=lifecycle.contained,
    )
    walkthrough.gate = killswitches
    response = ResponseService(
        incidents=incidents,
        lifecycle=lifecycle,
        timeline=timeline,
        slack=slack,
        scheduler=scheduler,
        clock=clock,
        timezone=calendar.timezone,
        policy=ResponsePolicy(
            responders_usergroup=settings.responders_usergroup,
            second_level_usergroup=settings.second_level_usergroup,
            second_level_after=timedelta(minutes=settings.escalation_second_level_minutes),
            update_cadence={
                Severity.SEV1: timedelta(minutes=settings.update_cadence_sev1_minutes),
                Severity.SEV2: timedelta(minutes=settings.update_cadence_sev2_minutes),
            },
            announcements_channel=settings.announcements_channel,
        ),
        key_prefix=settings.key_prefix,
    )
    incidents.start_timers = response.schedule
    return Services(
        settings=settings,
        redis=connections,
        slack=slack,
        scheduler=scheduler,
        salesforce=salesforce,
        salesforce_runner=salesforce_runner,
        runbook=runbook,
        timeline=timeline,
        walkthrough=walkthrough,
        incidents=incidents,
        killswitches=killswitches,
        lifecycle=lifecycle,
        response=response,
        listeners=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
    )


def status_pages(settings: Settings) -> StatusPages:
    return StatusPages(
        [
            StatusPage("Anthropic", "statuspage", settings.anthropic_status_url),
            StatusPage("OpenAI", "statuspage", settings.openai_status_url),
            StatusPage("AWS Bedrock", "aws_rss", settings.bedrock_status_url),
            StatusPage("Azure OpenAI", "azure_rss", settings.azure_status_url),
        ],
        settings.status_timeout_seconds,
    )


def create_app(settings: Settings, clock: Clock | None = None) -> tuple[App, Services]:
    """The Bolt app with every listener registered, and the services behind it."""
    client = build_web_client(settings.bot_token, settings.slack_api_base_url)
    services = build_services(settings, client, clock)
    app = App(
        client=client,
        signing_secret=(settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None),
        listener_executor=services.listeners,
        token_verification_enabled=False,  # the process checked the token before it started (bot/preflight.py)
    )
    app.use(replay_guard(services.redis.data, settings.key_prefix))
    app.error(answer_failures)
    register_all(app, services)
    logger.info("bot ready, storage: %s", services.redis.description)
    return app, services
