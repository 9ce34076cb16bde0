"""The composition root: builds the adapters from settings, the services on them, the presenters that show their
outcomes, the background jobs and the Bolt app. The whole dependency graph is in `build_services`."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from rq.job import Job
from slack_bolt import App
from slack_sdk import WebClient

from bot.adapters.github import GitHub
from bot.adapters.jira import Jira
from bot.adapters.opsgenie import Opsgenie
from bot.adapters.pagerduty import PagerDuty
from bot.adapters.playbook_files import load_runbook
from bot.adapters.redis_connection import RedisConnections, open_redis
from bot.adapters.redis_store.approvals import ApprovalStore
from bot.adapters.redis_store.audit import AuditStore
from bot.adapters.redis_store.events import EventOutbox
from bot.adapters.redis_store.evidence import EvidenceStore
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.messages import MessageStore
from bot.adapters.redis_store.pages import PageStore
from bot.adapters.redis_store.timeline import TimelineStore
from bot.adapters.redis_store.tracked import TrackedStore
from bot.adapters.redis_store.updates import CoalescedUpdates
from bot.adapters.redis_store.walkthrough import WalkthroughStore
from bot.adapters.redis_store.web import WebStore
from bot.adapters.redis_store.webhooks import Deliveries
from bot.adapters.salesforce.errors import SalesforceError
from bot.adapters.salesforce.gateway import SalesforceGateway
from bot.adapters.salesforce.login import credentials_from
from bot.adapters.scheduler import Scheduler
from bot.adapters.slack_api import SlackApi, build_web_client
from bot.adapters.slack_openid import SlackOpenId
from bot.adapters.status_pages import StatusPage, StatusPages
from bot.config import Settings
from bot.core.audit import Seal
from bot.core.clock import Clock, SystemClock
from bot.core.severity import BusinessCalendar, Severity
from bot.jobs import JobName, job_class
from bot.listeners import ListenerPool
from bot.mechanisms.base import OrgSetup
from bot.presenters.action_items import ActionItemsPresenter
from bot.presenters.approvals import ApprovalPresenter
from bot.presenters.evidence import EvidencePresenter
from bot.presenters.incidents import HEADER, IncidentPresenter
from bot.presenters.lifecycle import LifecyclePresenter
from bot.presenters.related import RelatedPresenter
from bot.presenters.response import ResponsePresenter
from bot.presenters.walkthrough import WalkthroughPresenter
from bot.runbook import Runbook
from bot.services.access import Access
from bot.services.approvals import ApprovalPolicy, ApprovalService
from bot.services.audit import AuditService
from bot.services.events import EventDispatch
from bot.services.evidence import EvidenceService
from bot.services.execution import ExecutionService
from bot.services.incidents import IncidentService
from bot.services.lifecycle import LifecycleService
from bot.services.paging import Paging
from bot.services.ports import Tracker
from bot.services.related import RelatedService
from bot.services.response import ResponsePolicy, ResponseService
from bot.services.sign_in import SignIn
from bot.services.timeline import TimelineService
from bot.services.timers import Deadlines, ResponseTimers
from bot.services.tracking import Tracking
from bot.services.walkthrough import WalkthroughService
from bot.services.web_view import WebView
from bot.subscribers.event_log import EventLog
from bot.subscribers.pager import Pager, PagerBackend
from bot.subscribers.tracker import TrackerSubscriber
from handlers import register_all
from handlers.guards import answer_failures, replay_guard

# Bolt runs each listener on this pool and answers Slack when the listener calls ack(); the work after the ack
# keeps its thread (a Salesforce call may take up to its timeout), so the pool is sized well above the requests
# in flight: an ack must never wait for a free thread.
LISTENER_THREADS = 128
UPDATE_THREADS = 16  # one message's updates at a time each; the rest wait their turn in the queue

logger = logging.getLogger(__name__)


@dataclass
class Presenters:
    walkthrough: WalkthroughPresenter
    incidents: IncidentPresenter
    approvals: ApprovalPresenter
    lifecycle: LifecyclePresenter
    response: ResponsePresenter
    evidence: EvidencePresenter
    related: RelatedPresenter
    action_items: ActionItemsPresenter


@dataclass(frozen=True)
class WebPages:
    sign_in: SignIn
    view: WebView


@dataclass
class Services:
    settings: Settings
    redis: RedisConnections
    slack: SlackApi
    scheduler: Scheduler
    salesforce: SalesforceGateway | None
    runbook: Runbook
    timezone: ZoneInfo
    timeline: TimelineService
    audit: AuditService
    walkthrough: WalkthroughService
    evidence: EvidenceService
    related: RelatedService
    incidents: IncidentService
    approvals: ApprovalService
    execution: ExecutionService
    lifecycle: LifecycleService
    response: ResponseService
    paging: Paging
    tracking: Tracking
    present: Presenters
    events: EventDispatch
    listeners: ListenerPool
    updates: CoalescedUpdates
    web: WebPages | None  # the web view, when SLACK_CLIENT_ID turns it on

    @cached_property
    def jobs(self) -> type[Job]:
        """The RQ job class that runs the bot's jobs with these services (`bot/jobs.py`)."""
        return job_class(self)

    def sweep(self) -> None:
        """The worker's sweep: an approved request whose queued execution was lost is queued again, a message
        update a dead sender left marked is sent, and every SAMPLE_MINUTES the growth probes' counts are measured
        (a job). Each part on its own: one failing does not stop the others."""
        try:
            for approval_id in self.approvals.sweep():
                logger.warning("request %s was approved but not queued: queued by the sweep", approval_id)
        except Exception:
            logger.exception("the sweep of approved requests failed; it runs again shortly")
        try:
            with CoalescedUpdates.inline():
                for message in self.updates.stale():
                    self.redraw(message)
        except Exception:
            logger.exception("the sweep of message updates failed; it runs again shortly")
        try:
            if self.evidence.sampling_due():
                self.scheduler.enqueue(JobName.SAMPLE_PROBES, job_id=self.scheduler.job_id("sample-probes"))
        except Exception:
            logger.exception("queueing the probes' measurement failed; it runs again shortly")

    def redraw(self, message: str) -> None:
        """A message by the name its updates go under (`approval:<id>`, `<n>:header`, `<n>:<walkthrough name>`),
        sent again from what Redis holds."""
        owner, _, name = message.partition(":")
        if owner == "approval":
            self.present.approvals.refresh(name)
            return
        incident = self.incidents.find(int(owner)) if owner.isdigit() else None
        if incident is None:
            return
        if name == HEADER:
            self.present.incidents.refresh_header(incident)
        else:
            self.present.walkthrough.refresh(incident, name)

    def close(self) -> None:
        """A graceful stop: lets the work already started after an ack finish and the message updates it asked
        for go out, then lets Redis go."""
        self.listeners.shutdown(wait=True)
        self.walkthrough.fetches.shutdown(wait=True)
        self.evidence.pool.shutdown(wait=True, cancel_futures=True)
        self.updates.close()
        self.redis.close()


def build_services(settings: Settings, client: WebClient, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    redis = open_redis(settings)
    prefix = settings.key_prefix
    opens, closes = settings.business_window
    calendar = BusinessCalendar(ZoneInfo(settings.team_timezone), opens, closes, settings.business_weekdays)
    timezone = calendar.timezone
    slack = SlackApi(client)
    runbook = load_runbook(settings.playbooks_dir, settings.step_settings)
    scheduler = Scheduler(redis.jobs, prefix)
    credentials = credentials_from(settings)
    salesforce = SalesforceGateway(credentials, settings.salesforce_timeout_seconds) if credentials else None
    setup = OrgSetup(settings.fm_config_record, settings.named_credentials)
    outbox = EventOutbox(redis.data, prefix)
    incident_store = IncidentStore(redis.data, prefix, outbox)
    steps = WalkthroughStore(redis.data, prefix)
    audit_store = AuditStore(redis.data, prefix, Seal(settings.audit_key, settings.audit_keys))
    approval_store = ApprovalStore(redis.data, prefix, audit_store)
    messages = MessageStore(redis.data, prefix)
    deadlines = Deadlines(runbook.severities, calendar)
    timers = ResponseTimers(
        scheduler,
        deadlines,
        {
            Severity.SEV1: timedelta(minutes=settings.update_cadence_sev1_minutes),
            Severity.SEV2: timedelta(minutes=settings.update_cadence_sev2_minutes),
        },
    )
    access = Access(slack, settings.responders_usergroup)
    audit = AuditService(audit_store, approval_store, incident_store, clock)
    timeline_store = TimelineStore(redis.data, prefix)
    timeline = TimelineService(timeline_store, audit_store, incident_store, slack, clock)
    walkthrough = WalkthroughService(
        incidents=incident_store,
        steps=steps,
        timeline=timeline,
        runbook=runbook,
        clock=clock,
        org=salesforce,
        status_pages=status_pages(settings),
        step_settings=settings.step_settings,
        setup=setup,
        access=access,
        approvals=approval_store,
        audit=audit,
    )
    evidence_store = EvidenceStore(redis.data, prefix)
    evidence = EvidenceService(
        evidence_store,
        incident_store,
        timeline,
        runbook,
        clock,
        salesforce,
        settings.probe_budget_seconds,
        access,
        settings.step_settings,
    )
    related = RelatedService(incident_store, steps, evidence_store, approval_store, messages, slack, runbook)
    incidents = IncidentService(
        store=incident_store,
        workspace=slack,
        matrix=runbook.severities,
        clock=clock,
        responders_usergroup=settings.responders_usergroup,
        timeline=timeline,
        walkthrough=walkthrough,
        evidence=evidence,
        timers=timers,
    )
    approvals = ApprovalService(
        incidents=incident_store,
        approvals=approval_store,
        audit=audit,
        walkthrough=walkthrough,
        workspace=slack,
        access=access,
        org=salesforce,
        runbook=runbook,
        setup=setup,
        scheduler=scheduler,
        clock=clock,
        policy=ApprovalPolicy(
            usergroup=settings.approvers_usergroup,
            users=settings.approver_ids,
            expiry=timedelta(minutes=settings.approval_expiry_minutes),
            lease_seconds=settings.execution_lease_seconds,
        ),
    )
    tracker_backends = trackers(settings)
    tracked_store = TrackedStore(redis.data, prefix)
    lifecycle = LifecycleService(
        incidents=incident_store,
        timeline=timeline,
        audit=audit,
        steps=steps,
        evidence=evidence_store,
        approvals=approvals,
        access=access,
        runbook=runbook,
        clock=clock,
        timezone=timezone,
        integration_user=lambda: integration_user(salesforce),
        events=outbox,
        tracked=tracked_store,
        trackers=tuple(backend.name for backend in tracker_backends),
    )
    execution = ExecutionService(
        approvals=approval_store,
        audit=audit,
        walkthrough=walkthrough,
        org=salesforce,
        scheduler=scheduler,
        clock=clock,
        lease_seconds=settings.execution_lease_seconds,
        on_contained=lifecycle.contained,
    )
    pages = PageStore(redis.data, prefix)
    backends = pagers(settings)
    deliveries = Deliveries(redis.data, prefix)
    paging = Paging(
        incidents=incident_store,
        pages=pages,
        deliveries=deliveries,
        timeline=timeline,
        access=access,
        events=outbox,
        scheduler=scheduler,
        deadlines=deadlines,
        clock=clock,
        pagers=tuple(backend.name for backend in backends),
        key_prefix=prefix,
        web_base_url=settings.web_base_url,
        pagerduty_webhook_secret=secret(settings.pagerduty_webhook_secret),
    )
    paging_subscribers = [
        Pager(backend, paging, incident_store, pages, timeline, scheduler, clock, settings.page_on)
        for backend in backends
    ]
    tracking = Tracking(
        incidents=incident_store,
        tracked=tracked_store,
        deliveries=deliveries,
        timeline=timeline,
        access=access,
        events=outbox,
        scheduler=scheduler,
        workspace=slack,
        clock=clock,
        timezone=timezone,
        trackers=tracker_backends,
        key_prefix=prefix,
        web_base_url=settings.web_base_url,
        github_users=settings.github_logins,
        github_repository=settings.github_repository,
        private_allowed=settings.tracker_private_incidents,
        webhook_secrets={
            "GitHub": secret(settings.github_webhook_secret),
            "Jira": secret(settings.jira_webhook_secret),
        },
        reminders_at=settings.reminders_at,
    )
    tracker_subscribers = [TrackerSubscriber(backend, tracking, scheduler) for backend in tracker_backends]
    response = ResponseService(
        incidents=incident_store,
        lifecycle=lifecycle,
        timeline=timeline,
        access=access,
        timers=timers,
        clock=clock,
        policy=ResponsePolicy(
            responders_usergroup=settings.responders_usergroup,
            second_level_usergroup=settings.second_level_usergroup,
            second_level_after=timedelta(minutes=settings.escalation_second_level_minutes),
            announcements_channel=settings.announcements_channel,
        ),
        events=outbox,
    )
    updates = CoalescedUpdates(
        redis.data,
        prefix,
        settings.message_update_interval_seconds,
        ThreadPoolExecutor(max_workers=UPDATE_THREADS, thread_name_prefix="slack-updates"),
    )
    walkthrough_presenter = WalkthroughPresenter(slack, messages, walkthrough, scheduler, updates, timezone, evidence)
    evidence_presenter = EvidencePresenter(slack, messages, evidence, walkthrough_presenter, timezone)
    incident_presenter = IncidentPresenter(slack, messages, incidents, deadlines, walkthrough_presenter, clock, paging)
    approval_presenter = ApprovalPresenter(slack, approvals, updates, timezone)
    lifecycle_presenter = LifecyclePresenter(slack, messages, lifecycle, incident_presenter, approval_presenter)
    present = Presenters(
        walkthrough=walkthrough_presenter,
        incidents=incident_presenter,
        approvals=approval_presenter,
        lifecycle=lifecycle_presenter,
        response=ResponsePresenter(slack, incident_presenter, lifecycle_presenter),
        evidence=evidence_presenter,
        related=RelatedPresenter(slack, timezone),
        action_items=ActionItemsPresenter(slack, messages, timezone, tracking.trackers),
    )

    web = None
    if settings.slack_client_id and settings.slack_client_secret and settings.web_session_secret:
        assert settings.web_base_url is not None  # the settings check it comes with SLACK_CLIENT_ID
        web_store = WebStore(redis.data, prefix, settings.web_session_secret.get_secret_value().encode())
        identity = SlackOpenId(
            settings.slack_api_base_url,
            settings.slack_client_id,
            settings.slack_client_secret.get_secret_value(),
            settings.slack_openid_authorize_url,
            settings.slack_openid_keys_url,
        )
        web = WebPages(
            SignIn(identity, web_store, slack, settings.web_base_url, settings.web_session_hours),
            WebView(
                incidents=incident_store,
                timeline=timeline,
                timeline_store=timeline_store,
                steps=steps,
                approvals=approval_store,
                audit=audit,
                lifecycle=lifecycle,
                store=web_store,
                workspace=slack,
                runbook=runbook,
                deadlines=deadlines,
                clock=clock,
                timezone=timezone,
            ),
        )

    return Services(
        settings=settings,
        redis=redis,
        slack=slack,
        scheduler=scheduler,
        salesforce=salesforce,
        runbook=runbook,
        timezone=timezone,
        timeline=timeline,
        audit=audit,
        walkthrough=walkthrough,
        evidence=evidence,
        related=related,
        incidents=incidents,
        approvals=approvals,
        execution=execution,
        lifecycle=lifecycle,
        response=response,
        present=present,
        paging=paging,
        tracking=tracking,
        events=EventDispatch(outbox, scheduler, [EventLog(), *paging_subscribers, *tracker_subscribers]),
        listeners=ListenerPool(LISTENER_THREADS),
        updates=updates,
        web=web,
    )


def integration_user(salesforce: SalesforceGateway | None) -> str | None:
    """The Salesforce user the bot runs as, for the post-mortem to leave out; None when it cannot be asked."""
    if salesforce is None:
        return None
    try:
        return salesforce.user_id
    except SalesforceError:
        logger.warning("the integration user could not be read; the post-mortem lists every user it saw")
        return None


def trackers(settings: Settings) -> list[Tracker]:
    """The trackers the settings name: GitHub Issues and Jira, each when its settings are complete."""
    found: list[Tracker] = []
    if settings.github_token and settings.github_repository:
        labels = tuple(label.strip() for label in settings.github_labels.split(",") if label.strip())
        token = settings.github_token.get_secret_value()
        found.append(GitHub(settings.github_api_url, settings.github_repository, token, labels))
    if settings.jira_base_url and settings.jira_email and settings.jira_api_token and settings.jira_project_key:
        token = settings.jira_api_token.get_secret_value()
        project, kind = settings.jira_project_key, settings.jira_issue_type
        found.append(Jira(settings.jira_base_url, settings.jira_email, token, project, kind))
    return found


def pagers(settings: Settings) -> list[PagerBackend]:
    """The pagers the settings name: PagerDuty and Opsgenie, each when its key is set."""
    found: list[PagerBackend] = []
    if settings.pagerduty_routing_key:
        found.append(PagerDuty(settings.pagerduty_events_url, settings.pagerduty_routing_key.get_secret_value()))
    if settings.opsgenie_api_key:
        found.append(Opsgenie(settings.opsgenie_api_url, settings.opsgenie_api_key.get_secret_value()))
    return found


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def status_pages(settings: Settings) -> StatusPages:
    """Every vendor's page; AWS Bedrock once per region of BEDROCK_REGIONS, which has no default: which regions
    the org calls is the operator's to say."""
    bedrock = [
        StatusPage(f"AWS Bedrock {region}", "aws_rss", f"{settings.aws_status_feeds_url}bedrock-{region}.rss")
        for region in settings.regions
    ]
    return StatusPages(
        [
            StatusPage("Anthropic", "statuspage", settings.anthropic_status_url),
            StatusPage("OpenAI", "statuspage", settings.openai_status_url),
            *bedrock,
            StatusPage("Azure OpenAI", "azure_rss", settings.azure_status_url),
        ],
        settings.status_timeout_seconds,
        unchecked={} if bedrock else {"AWS Bedrock": "not checked: set BEDROCK_REGIONS to the regions your org calls"},
    )


# What Bolt's App reads from the environment on its own, when the bot hands it all it needs
BOLT_ENVIRONMENT = ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
_environment = threading.Lock()


@contextmanager
def single_workspace() -> Iterator[None]:
    """Bolt turns itself into a multi-workspace OAuth app, and ignores the bot token, when SLACK_CLIENT_ID and
    SLACK_CLIENT_SECRET are in the environment; the bot has them there for Sign in with Slack (the web view). It
    also reads SLACK_BOT_TOKEN, only to warn that the client's token wins. So they are out of the environment
    while Bolt's App is made, and back right after."""
    with _environment:
        held = {name: os.environ.pop(name) for name in BOLT_ENVIRONMENT if name in os.environ}
        try:
            yield
        finally:
            os.environ.update(held)


def create_app(settings: Settings, clock: Clock | None = None) -> tuple[App, Services]:
    """The Bolt app with every listener registered, and the services behind it."""
    client = build_web_client(settings.bot_token, settings.slack_api_base_url)
    services = build_services(settings, client, clock)
    with single_workspace():
        app = App(
            client=client,
            signing_secret=(
                settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
            ),
            listener_executor=services.listeners,
            token_verification_enabled=False,  # the process checked the token before it started (bot/preflight.py)
        )
    app.use(replay_guard(services))
    app.error(answer_failures)
    register_all(app, services)
    logger.info("bot ready, storage: %s", services.redis.description)
    return app, services
