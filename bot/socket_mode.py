"""Socket Mode: the bot on a laptop with no public URL (SLACK_APP_TOKEN set). Stops cleanly on Ctrl-C or
SIGTERM: the connection closes, work started after an ack finishes, and the embedded Redis is let go. With the
web view configured (SLACK_CLIENT_ID), its pages are served on PORT too."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from slack_bolt.adapter.socket_mode import SocketModeHandler
from werkzeug.serving import make_server

from bot.app import create_app
from bot.config import Settings
from bot.preflight import check_slack
from bot.web import wsgi_app

logger = logging.getLogger(__name__)


def serve(settings: Settings) -> int:
    check_slack(settings)
    app, services = create_app(settings)
    assert settings.slack_app_token is not None
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value(), web_client=app.client)
    pages = None
    if services.web is not None:  # the web view, on PORT, beside the Socket Mode connection
        pages = make_server(settings.host, settings.port, wsgi_app(app, services), threaded=True)
        threading.Thread(target=pages.serve_forever, name="web-view", daemon=True).start()
        logger.info("web view on http://%s:%s/", settings.host, settings.port)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        handler.start()  # type: ignore[no-untyped-call]
    except KeyboardInterrupt:
        pass
    finally:
        if pages is not None:
            pages.shutdown()
        handler.close()  # type: ignore[no-untyped-call]
        services.close()
    return 0
