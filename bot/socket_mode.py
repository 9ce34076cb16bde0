"""Socket Mode: the bot on a laptop with no public URL (SLACK_APP_TOKEN set). Stops cleanly on Ctrl-C or
SIGTERM: the connection closes, work started after an ack finishes, and the embedded Redis is let go."""

from __future__ import annotations

import signal
from types import FrameType

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import create_app
from bot.config import Settings
from bot.preflight import check_slack


def serve(settings: Settings) -> int:
    check_slack(settings)
    app, services = create_app(settings)
    assert settings.slack_app_token is not None
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value(), web_client=app.client)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        handler.start()  # type: ignore[no-untyped-call]
    except KeyboardInterrupt:
        pass
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        services.close()
    return 0
