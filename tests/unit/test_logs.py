"""The log formatter: every configured secret and every token shape masked, wherever it is in the record, and
the line still one valid JSON object."""

from __future__ import annotations

import json
import logging

from bot.logs import SIGNATURE_LOGGER, SIGNATURE_REFUSED, JsonFormatter

SECRETS = ["correct-horse", 'quote"and\\backslash', "audit-key-0123456789"]


def formatted(logger: str, message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord(logger, logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter(SECRETS).format(record))  # type: ignore[no-any-return]


def test_configured_secrets_and_token_shapes_are_masked_everywhere() -> None:
    line = formatted(
        "bot.test",
        "login with %s and %s, then Bearer abc.def, xoxb-1-2-3, 00D000000000001!AQ.x and "
        "https://hooks.slack.com/commands/T0/1/abc",
        "correct-horse",
        'quote"and\\backslash',
        settings={"key": "audit-key-0123456789", "list": ["correct-horse"]},
    )
    assert line["message"] == ("login with [secret] and [secret], then [secret], [secret], [secret] and [secret]")
    assert line["settings"] == {"key": "[secret]", "list": ["[secret]"]}


def test_a_request_failing_the_signature_check_is_logged_without_its_body() -> None:
    line = formatted(SIGNATURE_LOGGER, "Invalid request signature detected (signature: v0=1, body: text=private words)")
    assert line["message"] == SIGNATURE_REFUSED
