"""The worker process: an RQ worker with its scheduler on the bot's Redis, running the bot's jobs."""

from __future__ import annotations

from rq import Worker

from bot import jobs
from bot.adapters.scheduler import queue_name
from bot.adapters.slack_api import build_web_client
from bot.app import build_services
from bot.config import Settings


def run_worker(settings: Settings) -> None:
    """Works until SIGINT or SIGTERM (RQ's warm shutdown finishes the job at hand), then lets Redis go."""
    services = build_services(settings, build_web_client(settings.bot_token, settings.slack_api_base_url))
    jobs.register(services)
    try:
        Worker([queue_name(settings.key_prefix)], connection=services.redis.jobs).work(with_scheduler=True)
    finally:
        services.close()
