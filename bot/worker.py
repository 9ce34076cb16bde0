"""The worker process: an RQ worker with its scheduler on the bot's Redis, running the bot's jobs."""

from __future__ import annotations

from rq import Worker

from bot import jobs
from bot.adapters.scheduler import queue_name
from bot.adapters.slack_api import build_web_client
from bot.app import build_services
from bot.config import Settings


def run_worker(settings: Settings) -> None:
    client = build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_base_url)
    services = build_services(settings, client)
    jobs.register(services)
    Worker([queue_name(settings.key_prefix)], connection=services.redis.jobs).work(with_scheduler=True)
