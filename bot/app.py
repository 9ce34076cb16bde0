"""The composition root: builds adapters from settings, wires them into services and the Bolt app."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_sdk import WebClient

from bot.adapters.playbook_files import load_severity_matrix
from bot.adapters.redis_connection import RedisConnections, open_redis
from bot.adapters.redis_store import IncidentStore
from bot.adapters.slack_api import SlackApi, build_web_client
from bot.config import Settings
from bot.core.clock import Clock, SystemClock
from bot.core.severity import BusinessCalendar
from bot.services.incidents import IncidentService
from handlers import register_all

LISTENER_THREADS = 32

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    redis: RedisConnections
    slack: SlackApi
    incidents: IncidentService


def build_services(settings: Settings, client: WebClient, clock: Clock | None = None) -> Services:
    clock = clock or SystemClock()
    connections = open_redis(settings)
    opens, closes = settings.business_window
    calendar = BusinessCalendar(ZoneInfo(settings.team_timezone), opens, closes, settings.business_weekdays)
    slack = SlackApi(client)
    store = IncidentStore(connections.data, settings.key_prefix)
    incidents = IncidentService(
        store=store,
        slack=slack,
        matrix=load_severity_matrix(settings.playbooks_dir),
        calendar=calendar,
        clock=clock,
        responders_usergroup=settings.responders_usergroup,
    )
    return Services(settings=settings, redis=connections, slack=slack, incidents=incidents)


def create_app(settings: Settings, clock: Clock | None = None) -> tuple[App, Services]:
    """The Bolt app with every listener registered, and the services behind it."""
    client = build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_base_url)
    services = build_services(settings, client, clock)
    app = App(
        client=client,
        signing_secret=(settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None),
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
    )
    register_all(app, services)
    logger.info("bot ready, storage: %s", services.redis.description)
    return app, services
