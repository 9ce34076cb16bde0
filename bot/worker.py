"""The worker process: an RQ worker with its scheduler on the bot's Redis."""

from __future__ import annotations

from rq import Worker

from bot.adapters.redis_connection import open_redis
from bot.config import Settings


def queue_name(key_prefix: str) -> str:
    return f"{key_prefix}-jobs"


def run_worker(settings: Settings) -> None:
    connections = open_redis(settings)
    Worker([queue_name(settings.key_prefix)], connection=connections.jobs).work(with_scheduler=True)
