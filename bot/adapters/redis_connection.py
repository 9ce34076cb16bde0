"""Connects to Redis: `REDIS_URL` (TLS included) or, when unset, the embedded server in DATA_DIR."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from bot.adapters.embedded_redis import EmbeddedRedis
from bot.config import Settings


@dataclass(frozen=True)
class RedisConnections:
    """`data` decodes replies to str for the store; `jobs` speaks bytes, as RQ requires."""

    data: redis.Redis
    jobs: redis.Redis
    description: str
    embedded: EmbeddedRedis | None = None

    def close(self) -> None:
        """Closes the pools; the embedded server stops when the last process using it lets go."""
        self.data.close()
        self.jobs.close()
        if self.embedded is not None:
            self.embedded.release()


# redis-py's default retry (10 times, backing off up to 1 s) holds a call to a Redis that is down for about 4 s,
# longer than Slack waits for an ack: three quick retries (at most about 0.35 s) ride out a blip, and then the
# listener says the database is unreachable while Slack still listens.
_TIMEOUTS: dict[str, Any] = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "health_check_interval": 30,
    "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.2), 3),
}


def open_redis(settings: Settings) -> RedisConnections:
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    if url:
        options = dict(_TIMEOUTS)
        if url.startswith("rediss://"):
            # Heroku Redis presents a self-signed certificate: encrypt without verifying unless a CA is given.
            options.update(
                {"ssl_ca_certs": str(settings.redis_tls_ca_file), "ssl_cert_reqs": "required"}
                if settings.redis_tls_ca_file
                else {"ssl_cert_reqs": "none"}
            )
        return RedisConnections(
            data=redis.Redis.from_url(url, decode_responses=True, **options),
            jobs=redis.Redis.from_url(url, **options),
            description=f"Redis at {_without_password(url)}",
        )
    embedded = EmbeddedRedis(settings.data_dir)
    socket_path = embedded.acquire()
    return RedisConnections(
        data=redis.Redis(unix_socket_path=socket_path, decode_responses=True, **_TIMEOUTS),
        jobs=redis.Redis(unix_socket_path=socket_path, **_TIMEOUTS),
        description=f"embedded Redis with its data in {settings.data_dir}",
        embedded=embedded,
    )


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}://{rest}"
