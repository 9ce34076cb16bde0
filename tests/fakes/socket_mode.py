"""Slack's Socket Mode end on loopback: `apps.connections.open` (in the fake Web API) hands out this server's
`ws://` URL; it greets the app with `hello`, sends envelopes shaped like the real ones
(`tests/fixtures/slack-payloads/bolt_socket_mode_envelopes.json`) and records each acknowledgement, which must
carry the envelope's `envelope_id`, as Slack requires."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

ACK_SECONDS = 3.0  # Slack retries an envelope that is not acknowledged within 3 seconds


class FakeSocketMode:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections: list[ServerConnection] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.strays: list[Any] = []  # frames that acknowledge no envelope we sent
        self.sent: set[str] = set()
        self.server: Server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    @property
    def url(self) -> str:
        port = self.server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id=A0FAKE001"

    def _session(self, connection: ServerConnection) -> None:
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0FAKE001"},
                }
            )
        )
        with self.lock:
            self.connections.append(connection)
        try:
            for frame in connection:
                message = json.loads(frame)
                with self.lock:
                    if message.get("envelope_id") in self.sent:
                        self.acks[message["envelope_id"]] = message
                    else:
                        self.strays.append(message)
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                self.connections.remove(connection)

    def wait_connected(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if self.connections:
                    return
            time.sleep(0.05)
        raise AssertionError("the app never opened a Socket Mode connection")

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False) -> dict[str, Any]:
        """Sends one envelope and returns its acknowledgement (which must come within Slack's 3 seconds)."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        with self.lock:
            self.sent.add(envelope_id)
            connection = self.connections[-1]
        connection.send(json.dumps(envelope))
        deadline = time.monotonic() + ACK_SECONDS
        while time.monotonic() < deadline:
            with self.lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id]
            time.sleep(0.01)
        raise AssertionError(f"no acknowledgement of {kind} envelope {envelope_id} within {ACK_SECONDS} s")
