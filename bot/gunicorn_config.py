"""gunicorn settings for the web process (`--config python:bot.gunicorn_config`)."""

import os

from bot.logs import LOGCONFIG

bind = f"0.0.0.0:{os.environ.get('PORT', '3000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = 16
accesslog = "-"
logconfig_dict = LOGCONFIG
