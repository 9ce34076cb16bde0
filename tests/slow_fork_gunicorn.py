"""gunicorn as `bot/gunicorn_config.py` sets it up, with a worker that takes three seconds from its fork to its own
signal handlers (gunicorn installs them after `post_fork`): the window a stop can fall in, made wide to test it."""

from __future__ import annotations

import time
from typing import Any

from bot.gunicorn_config import *  # noqa: F403 (every setting and hook as the bot has it; post_fork added)


def post_fork(server: Any, worker: Any) -> None:
    time.sleep(3)
