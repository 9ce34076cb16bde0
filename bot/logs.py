"""Structured logs: one JSON line per event. Every configured secret is masked wherever it appears, and so is
anything shaped like a Slack or OAuth token; a request that fails Slack's signature check is logged without
its body (which can hold people's text and a response_url, a capability to post for half an hour).

People's words stay out of logs at every level, LOG_LEVEL=DEBUG included: the libraries that log the bodies of
requests and answers at DEBUG and INFO (slack_sdk, Bolt, the HTTP and SOAP clients) are heard from WARNING up,
and their warnings without the payloads they quote (`PeopleFilter`). A private incident's title, summary and
reasons are in those bodies; the bot's own log lines name incidents, requests and steps by their ids."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

SHAPES = (  # Slack tokens, bearer headers, Salesforce sessions, response_urls
    r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|Bearer\s+[^\s\"',}]+|00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]+"
    r"|https://hooks\.slack\.com/[^\s\"'<>]+"
)
STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
SIGNATURE_LOGGER = "slack_bolt.RequestVerification"
SIGNATURE_REFUSED = "A request failed Slack's signature check and was refused with 401 (its body is not logged)."


# Libraries whose DEBUG and INFO lines carry request and answer bodies (people's text), and the SOAP client's.
QUIET = ("slack_sdk", "slack_bolt", "urllib3", "requests", "zeep", "simple_salesforce")
PAYLOAD = re.compile(r"\s*[({\[].*", re.DOTALL)


class PeopleFilter(logging.Filter):
    """Keeps people's words out of the logs: the quiet libraries' lines below WARNING are dropped, and their
    warnings keep only their sentence, without the payload they quote."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(QUIET) or record.name == SIGNATURE_LOGGER:
            return True
        if record.levelno < logging.WARNING:
            return False
        sentence = PAYLOAD.sub("", record.getMessage()) or record.name
        record.msg, record.args = f"{sentence} (payload not logged)", None
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        longest_first = sorted(set(secrets), key=len, reverse=True)
        self._secret = re.compile("|".join([*(re.escape(secret) for secret in longest_first), SHAPES]))

    def mask(self, value: Any) -> Any:
        """The value with every secret in its text replaced, however deep in it."""
        if isinstance(value, str):
            return self._secret.sub("[secret]", value)
        if isinstance(value, dict):
            return {self.mask(str(key)): self.mask(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set):
            return [self.mask(item) for item in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.mask(str(value))

    def format(self, record: logging.LogRecord) -> str:
        message = SIGNATURE_REFUSED if record.name == SIGNATURE_LOGGER else record.getMessage()
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        line.update({k: v for k, v in vars(record).items() if k not in STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(self.mask(line), ensure_ascii=False)


def configure(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(secrets))
    handler.addFilter(PeopleFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def gunicorn_logging(level: str, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """gunicorn's logging, in the same JSON lines at LOG_LEVEL."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "bot.logs.JsonFormatter", "secrets": list(secrets)}},
        "filters": {"people": {"()": "bot.logs.PeopleFilter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["people"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }
