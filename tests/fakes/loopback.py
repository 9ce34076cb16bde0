"""What every fake service shares: a threaded HTTP server on 127.0.0.1 (TLS when given a context), started and
stopped by the test; and, for the JSON APIs (pagers, trackers), one handler that serves the fake's `handle`."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

DROP = object()  # what `handle` answers to close the connection without a response (the work may be done)


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


class StatusFaults:
    """HTTP statuses a fake answers next instead of serving the request, one per request (`fail(429, 503)`)."""

    lock: threading.Lock
    faults: list[int]

    def fail(self, *statuses: int) -> None:
        with self.lock:
            self.faults.extend(statuses)

    def next_fault(self) -> int | None:
        """The status to answer this request with, if one is queued; the caller holds the lock."""
        return self.faults.pop(0) if self.faults else None


class JsonHandler(BaseHTTPRequestHandler):
    """Serves one fake's `handle(verb, path, headers, body)`, which answers (status, payload) or (status, payload,
    headers), or DROP; counts every request it gets (`fake.received`)."""

    fake: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.fake.received += 1
        answer = self.fake.handle(self.command, self.path, dict(self.headers), body)
        if answer is DROP:
            self.close_connection = True
            return
        status, payload, *extra = answer
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra[0] if extra else {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def json_handler(fake: Any) -> type[JsonHandler]:
    return type(f"{type(fake).__name__}Handler", (JsonHandler,), {"fake": fake})
