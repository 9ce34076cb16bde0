"""What every fake service shares: a threaded HTTP server on 127.0.0.1 (TLS when given a context), started and
stopped by the test."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog is 5: under a burst of connections from several processes the kernel then
    # resets new ones, which no real service does at that load (Slack accepts them and answers 429 if need be)
    request_queue_size = 128


class LoopbackService:
    """A fake calls `serve()` once its state is ready; the test calls `start()` and `stop()`."""

    server: ThreadingHTTPServer
    _thread: threading.Thread

    def serve(self, handler: type[BaseHTTPRequestHandler], port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.server = _Server(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])
