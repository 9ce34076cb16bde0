"""A loopback TCP proxy in front of the tests' Redis that fails chosen commands, as a Redis that errs or goes away
between two writes would: the bot talks to it over a real connection, and a fault lands between two of the bot's
commands, never inside our code.

Each client connection gets a connection of its own upstream; commands are read one at a time (RESP arrays),
forwarded, and each answered with exactly one reply read back. A command matching a fault is answered with an
error instead (`-ERR …`, what redis-py raises as ResponseError), or with the reply a test chose (`answer`), and
never reaches Redis; inside MULTI the fault
is kept for EXEC, which then discards the whole transaction (`-EXECABORT`), as Redis does with a transaction that
had an error: never half of one. After SUBSCRIBE a connection is piped both ways as it is.
"""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RedisFault:
    pattern: re.Pattern[str]
    times: int
    reply: bytes
    hits: int = 0


class _Reader:
    """Reads whole RESP values from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buffer += chunk

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def value(self) -> tuple[bytes, Any]:
        """One RESP value: its raw bytes, and it parsed (an array as a list, bulk strings as bytes)."""
        line = self.line()
        raw = line + b"\r\n"
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-", b":", b"_", b",", b"#", b"("):
            return raw, rest
        if kind in (b"$", b"=", b"!"):
            length = int(rest)
            if length < 0:
                return raw, None
            data = self.exactly(length + 2)
            return raw + data, data[:-2]
        if kind in (b"*", b">", b"~", b"%"):
            count = int(rest)
            if kind == b"%":
                count *= 2
            items = []
            for _ in range(max(count, 0)):
                item_raw, item = self.value()
                raw += item_raw
                items.append(item)
            return raw, items
        raise ValueError(f"not RESP: {line[:40]!r}")


class RedisProxy:
    """`start()`, point the bot at `url`, `fail(...)` what should fail, `clear()` to heal, `stop()`."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self._unix = parts.path if parts.scheme == "unix" else None
        self._address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._db = parts.path.strip("/") if parts.scheme != "unix" else ""
        self.faults: list[RedisFault] = []
        self.lock = threading.Lock()
        self.commands: list[str] = []  # every command seen, as text (`EVALSHA <sha> …`)
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        db = f"/{self._db}" if self._db else ""
        return f"redis://127.0.0.1:{self._server.server_address[1]}{db}"

    def start(self) -> RedisProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, pattern: str, times: int = 1_000_000, error: str = "ERR injected fault") -> RedisFault:
        """The next `times` commands whose text matches `pattern` (a regex, case-insensitive) get `error`."""
        fault = RedisFault(re.compile(pattern, re.IGNORECASE), times, f"-{error}\r\n".encode())
        with self.lock:
            self.faults.append(fault)
        return fault

    def answer(self, pattern: str, reply: bytes, times: int = 1_000_000) -> RedisFault:
        """The next `times` commands matching `pattern` get `reply` (raw RESP) without reaching Redis: what a newer
        server would answer (WAITAOF of Redis 7.2 on a server that predates it)."""
        answered = RedisFault(re.compile(pattern, re.IGNORECASE), times, reply)
        with self.lock:
            self.faults.append(answered)
        return answered

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def _fault_for(self, text: str) -> RedisFault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.pattern.search(text):
                    fault.times -= 1
                    fault.hits += 1
                    return fault
        return None

    def _upstream(self) -> socket.socket:
        if self._unix is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._unix)
            return sock
        return socket.create_connection(self._address)

    def _serve(self, client: socket.socket) -> None:
        upstream = self._upstream()
        from_client, from_upstream = _Reader(client), _Reader(upstream)
        in_multi: list[RedisFault | None] | None = None
        try:
            while True:
                raw, command = from_client.value()
                words = [part.decode(errors="replace") if isinstance(part, bytes) else str(part) for part in command]
                text = " ".join(words)
                name = words[0].upper() if words else ""
                with self.lock:
                    self.commands.append(text)
                if name in ("SUBSCRIBE", "PSUBSCRIBE"):
                    upstream.sendall(raw)
                    _pipe(client, upstream, from_client.buffer, from_upstream.buffer)
                    return
                fault = self._fault_for(text) if name not in ("MULTI", "DISCARD") else None
                if name == "MULTI":
                    in_multi = []
                elif in_multi is not None and name not in ("EXEC", "DISCARD"):
                    in_multi.append(fault)
                    if fault is not None:
                        client.sendall(b"+QUEUED\r\n")  # kept for EXEC, which discards the transaction
                        continue
                elif name == "EXEC" and in_multi is not None:
                    failed = any(in_multi) or fault is not None
                    in_multi = None
                    if failed:
                        upstream.sendall(b"*1\r\n$7\r\nDISCARD\r\n")
                        from_upstream.value()
                        client.sendall(b"-EXECABORT Transaction discarded because of an injected fault\r\n")
                        continue
                elif name == "DISCARD":
                    in_multi = None
                if fault is not None and in_multi is None:
                    client.sendall(fault.reply)
                    continue
                upstream.sendall(raw)
                reply, _ = from_upstream.value()
                client.sendall(reply)
        except (ConnectionError, OSError, ValueError):
            pass
        finally:
            upstream.close()


def _pipe(client: socket.socket, upstream: socket.socket, to_upstream: bytes, to_client: bytes) -> None:
    """Both ways as they are, until either side closes (a subscribed connection)."""
    if to_upstream:
        upstream.sendall(to_upstream)
    if to_client:
        client.sendall(to_client)

    def copy(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=copy, args=(upstream, client), daemon=True)
    other.start()
    copy(client, upstream)
    other.join(timeout=5)
