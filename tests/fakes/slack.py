"""A fake Slack Web API on loopback that behaves like Slack for the methods the bot calls.

It keeps state the way Slack does (channels, members, messages with `ts`, pins, views, Home tabs, files,
canvases), records every call, and refuses what Slack refuses: unknown methods, missing required arguments
and scopes the app manifest does not grant (all per `tests/fixtures/slack-api-methods/`), invalid Block Kit
(checked with slack_sdk's models and the documented limits). Faults (errors such as `name_taken`, HTTP 429
with `Retry-After`, HTTP 500) are injected on demand.

Anything the bot sends that real Slack would refuse is also collected in `problems`, which the test fixture
asserts empty, so a refused call cannot hide behind the bot's own error handling.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests.fakes.loopback import LoopbackService
from tests.fakes.slack_openid import FakeOpenId, OpenIdRefusal

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-1-A0FAKE001-fake-app-token"
BOT_USER = "U0BOT0001"
TEAM_ID = "T0FAKE001"
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")
ID_LIMIT = 255
BUTTON_VALUE_LIMIT = 2000
VIEW_TITLE_LIMIT = 24
PRIVATE_METADATA_LIMIT = 3000


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float


@dataclass
class Fault:
    method: str
    error: str | None = None
    status: int | None = None
    retry_after: int | None = None
    times: int = 1


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    creator: str
    created: int
    members: set[str] = field(default_factory=set)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    pins: set[str] = field(default_factory=set)
    canvas_id: str | None = None
    is_im: bool = False

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": self.is_private,
            "is_im": self.is_im,
            "is_private": self.is_private,
            "created": self.created,
            "creator": self.creator,
            "is_archived": False,
            "num_members": len(self.members),
        }


# Slack's tiers, per app, workspace and method: about this many calls a minute, with bursts up to as many. A
# token bucket models "about N a minute, occasional bursts". Tier 5 (chat.postMessage) is limited per channel:
# about one message a second with short bursts (ten here); the other Tier 5 methods are not limited here.
TIER_PER_MINUTE = {"t1": 1, "t2": 20, "t3": 50, "t4": 100}
INVITE_LIMIT = 100
POSTS_PER_SECOND = 1.0
POST_BURST = 10


@dataclass
class Bucket:
    capacity: float
    per_second: float
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """0 when a call may go now (and takes its token); else the seconds until one may."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


def load_specs() -> dict[str, dict[str, Any]]:
    specs = {}
    for path in (FIXTURES / "slack-api-methods").glob("*.json"):
        specs[path.stem] = json.loads(path.read_text())
    return specs


def manifest_scopes(path: Path = MANIFEST, kind: str = "bot") -> set[str]:
    manifest = yaml.safe_load(path.read_text())
    return set(manifest["oauth_config"]["scopes"].get(kind) or [])


class FakeSlack(LoopbackService):
    """Start with `start()`, point the bot at `base_url`, stop with `stop()`."""

    def __init__(self, scopes: set[str] | None = None, users: dict[str, str] | None = None, port: int = 0) -> None:
        self.specs = load_specs()
        self.scopes = manifest_scopes() if scopes is None else scopes
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.problems: list[str] = []
        self.faults: list[Fault] = []
        self.responses: list[dict[str, Any]] = []  # bodies posted to response_url, in order
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.canvases: dict[str, dict[str, Any]] = {}
        self.canvases_allowed = True
        self.users = users or {}
        self.guests: set[str] = set()  # users who are single- or multi-channel guests (users.info says so)
        self.used_triggers: set[str] = set()
        self.now: Callable[[], float] = time.time
        self.latency = 0.0  # seconds added to every Web API call (benchmarks)
        self.socket_mode_url: Callable[[], str] | None = None  # a FakeSocketMode's, for apps.connections.open
        self.reset_responses = 0  # this many posts to a response_url get their connection reset, unanswered
        self.rate_limits = True  # each method's tier and the per-channel posting limit, answered with 429
        self.buckets: dict[str, Bucket] = {}
        self.rate_limited: list[Call] = []  # the calls answered with 429 for being over the limit
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self.openid = FakeOpenId(manifest_scopes(kind="user"))
        self.serve(self._handler_class(), port)

    # ----- lifecycle and helpers for tests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def new_response_url(self) -> str:
        return f"{self.url}/response/{next(self._ids)}"

    def new_trigger_id(self) -> str:
        return f"{next(self._ids)}.{int(time.time())}.trigger"

    def inject(self, method: str, **fault: Any) -> None:
        with self.lock:
            self.faults.append(Fault(method, **fault))

    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.method == method]

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """`predicate`'s first truthy answer; when it never comes, an AssertionError that says what the predicate
        saw last, what the bot last told people and the last Slack calls."""
        deadline = time.monotonic() + timeout
        result: Any = None
        while time.monotonic() < deadline:
            with self.lock:
                try:
                    result = predicate()
                except (KeyError, IndexError, StopIteration, AttributeError) as error:  # not there yet
                    result = error
                    if time.monotonic() + 0.01 >= deadline:
                        raise
                    time.sleep(0.01)
                    continue
            if result:
                return result
            time.sleep(0.01)
        with self.lock:
            told = [r.get("text", "") for r in self.responses[-3:]]
            calls = [c.method for c in self.calls[-12:]]
        raise AssertionError(
            f"timed out after {timeout:g} s; the predicate last gave {str(result)[:300]!r}; the bot last told "
            f"people {told}; the last Slack calls: {calls}"
        )

    def channel_named(self, prefix: str) -> Channel | None:
        with self.lock:
            return next((c for c in self.channels.values() if c.name.startswith(prefix)), None)

    def add_channel(self, name: str, members: set[str] | None = None, is_private: bool = False) -> Channel:
        with self.lock:
            channel = Channel(
                id=self._channel_id(is_private),
                name=name,
                is_private=is_private,
                creator="U0HUMAN01",
                created=int(time.time()),
                members=set(members or set()),
            )
            self.channels[channel.id] = channel
            return channel

    def add_usergroup(self, group_id: str, users: list[str]) -> None:
        with self.lock:
            self.usergroups[group_id] = list(users)

    def user_message(self, channel_id: str, user: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        """A person posts in a channel, or in a thread there (for events the tests then deliver to the app)."""
        with self.lock:
            message = {"user": user, "text": text, **({"thread_ts": thread_ts} if thread_ts else {})}
            return self._add_message(self.channels[channel_id], message)

    def open_views(self, callback_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [v for v in self.views.values() if v.get("callback_id") == callback_id]

    # ----- the HTTP side

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._dispatch()

            def do_POST(self) -> None:
                self._dispatch()

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/response/") and fake.take_reset():
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True  # closed with RST: the client sees "connection reset by peer"
                    return
                status, headers, payload = fake.handle(self.command, self.path, dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def handle(self, verb: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        parsed = urlparse(path)
        if parsed.path.startswith("/response/"):
            with self.lock:
                self.responses.append({"url": parsed.path, **json.loads(body or b"{}")})
            return 200, {}, b"ok"
        if parsed.path.startswith("/upload/"):
            with self.lock:
                file_id = parsed.path.rsplit("/", 1)[1]
                if file_id not in self.files:
                    return 404, {}, b"unknown upload"
                self.files[file_id]["content"] = body
            return 200, {}, b"OK - " + str(len(body)).encode()
        if parsed.path == "/openid/connect/authorize" and verb == "GET":
            return self.openid.authorize(parsed.query)
        if parsed.path == "/openid/connect/keys" and verb == "GET":
            return 200, {}, self.openid.keys()
        if not parsed.path.startswith("/api/"):
            return 404, {}, {"ok": False, "error": "not_found"}
        method = parsed.path[len("/api/") :]
        return self._api(method, parsed.query, headers, body)

    def _over_limit(self, method: str, spec: dict[str, Any], args: dict[str, Any]) -> float:
        """Seconds to wait when this call is over its tier (or its channel's posting limit); 0 when it may go."""
        if not self.rate_limits:
            return 0.0
        tier = str(spec.get("rate_limits") or "")
        if method == "chat.postMessage":
            key, capacity, per_second = f"{method}:{args.get('channel')}", POST_BURST, POSTS_PER_SECOND
        elif tier in TIER_PER_MINUTE:
            key, capacity, per_second = method, TIER_PER_MINUTE[tier], TIER_PER_MINUTE[tier] / 60
        else:
            return 0.0
        now = time.monotonic()
        bucket = self.buckets.setdefault(key, Bucket(capacity, per_second, capacity, now))
        return bucket.take(now)

    def _api(self, method: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
        if self.latency:
            time.sleep(self.latency)
        spec = self.specs.get(method)
        if spec is None:
            self._problem(f"{method}: not a Slack Web API method")
            return 200, {}, {"ok": False, "error": "unknown_method"}
        args = self._arguments(spec, query, headers, body)
        with self.lock:
            wait = self._over_limit(method, spec, args)
            if wait:
                self.rate_limited.append(Call(method, args, time.time()))
                return 429, {"Retry-After": str(math.ceil(wait))}, {"ok": False, "error": "ratelimited"}
            self.calls.append(Call(method, args, time.time()))
            fault = self._take_fault(method)
        if fault is not None:
            if fault.status == 429:
                return 429, {"Retry-After": str(fault.retry_after or 1)}, {"ok": False, "error": "ratelimited"}
            if fault.status:
                return fault.status, {}, b"<html>Internal Server Error</html>"
            return 200, {}, {"ok": False, "error": fault.error}
        token = args.pop("token", None)
        if method.startswith("openid.connect."):  # a client's credentials, or a signed-in person's user token
            try:
                if method == "openid.connect.token":
                    return 200, {}, {"ok": True, **self.openid.token(args, headers)}
                return 200, {}, {"ok": True, **self.openid.user_info(token)}
            except OpenIdRefusal as refusal:
                return 200, {}, {"ok": False, "error": refusal.error}
        if token is None:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != (APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN):  # an app-level token there
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        missing = [name for name in spec["args"].get("required", []) if name != "token" and name not in args]
        if missing:
            self._problem(f"{method}: missing required argument(s) {missing}")
            return 200, {}, {"ok": False, "error": "missing_argument", "missing": missing}
        needed = (spec.get("scope") or {}).get("bot") or []
        if needed and not self.scopes.intersection(needed):
            self._problem(f"{method}: needs one of the scopes {needed}, which the manifest does not grant")
            return 200, {}, {"ok": False, "error": "missing_scope", "needed": ",".join(needed)}
        implementation = getattr(self, "m_" + method.replace(".", "_"), None)
        if implementation is None:
            self._problem(f"{method}: the fake does not implement it yet")
            return 200, {}, {"ok": False, "error": "fake_not_implemented"}
        try:
            with self.lock:
                result = implementation(args)
        except SlackError as error:
            return 200, {}, {"ok": False, "error": error.error, **error.extra}
        headers = {"x-oauth-scopes": ",".join(sorted(self.scopes))} if method == "auth.test" else {}
        return 200, headers, {"ok": True, **result}

    def _arguments(self, spec: dict[str, Any], query: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        args: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if body and "application/json" in content_type:
            if spec.get("json_input_supported"):
                args.update(json.loads(body))
            # Slack ignores a JSON body for a method that takes only a form: its arguments are then missing.
        elif body:
            args.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if auth.startswith("Bearer "):
            args.setdefault("token", auth[len("Bearer ") :])
        return args

    def take_reset(self) -> bool:
        with self.lock:
            if self.reset_responses <= 0:
                return False
            self.reset_responses -= 1
            return True

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    # ----- Block Kit validation

    def check_blocks(self, method: str, raw: Any, limit: int) -> list[dict[str, Any]]:
        """Blocks as Slack checks them for `method` (at most `limit`): an invalid_blocks answer otherwise."""
        blocks = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(blocks, list):
            raise self._invalid(method, "blocks is not a list")
        if len(blocks) > limit:
            raise self._invalid(method, f"{len(blocks)} blocks, more than {limit}")
        for block in blocks:
            parsed = Block.parse(block)
            if parsed is None:
                raise self._invalid(method, f"unknown block {block!r}")
            try:
                parsed.validate_json()
            except SlackObjectFormationError as error:
                raise self._invalid(method, str(error)) from None
            self._limits(method, block)
        return blocks

    def _limits(self, method: str, node: Any) -> None:
        if isinstance(node, dict):
            for key in ("action_id", "block_id"):
                if key in node and len(str(node[key])) > ID_LIMIT:
                    raise self._invalid(method, f"{key} longer than {ID_LIMIT}")
            if node.get("type") == "button" and len(str(node.get("value", ""))) > BUTTON_VALUE_LIMIT:
                raise self._invalid(method, f"button value longer than {BUTTON_VALUE_LIMIT}")
            for value in node.values():
                self._limits(method, value)
        elif isinstance(node, list):
            for value in node:
                self._limits(method, value)

    def _view(self, method: str, raw: Any) -> dict[str, Any]:
        view = json.loads(raw) if isinstance(raw, str) else raw
        if len(view.get("blocks", [])) > 100:
            raise self._invalid(method, "more than 100 blocks in a view")
        if view.get("type") == "modal" and len(view.get("title", {}).get("text", "")) > VIEW_TITLE_LIMIT:
            raise self._invalid(method, f"modal title longer than {VIEW_TITLE_LIMIT}")
        if len(view.get("private_metadata", "")) > PRIVATE_METADATA_LIMIT:
            raise self._invalid(method, "private_metadata longer than 3000")
        try:
            View(**view).validate_json()
        except (SlackObjectFormationError, TypeError) as error:
            raise self._invalid(method, str(error)) from None
        self.check_blocks(method, view.get("blocks", []), 100)
        return view

    def _invalid(self, method: str, why: str) -> SlackError:
        self._problem(f"{method}: invalid Block Kit: {why}")
        return SlackError("invalid_blocks", detail=why)

    # ----- state helpers

    def _channel_id(self, is_private: bool) -> str:
        return f"{'G' if is_private else 'C'}{next(self._ids):08d}"

    def _channel(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None and re.fullmatch(r"[UW][A-Z0-9]+", channel_id):
            channel = Channel(
                id=f"D{channel_id[1:]}",
                name=channel_id,
                is_private=True,
                creator=BOT_USER,
                created=int(time.time()),
                members={BOT_USER, channel_id},
                is_im=True,
            )
            self.channels[channel_id] = self.channels[channel.id] = channel
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _next_ts(self) -> str:
        """Message timestamps follow `self.now` (the test's clock when a bot is running) and stay unique."""
        return f"{int(self.now())}.{next(self._ts):06d}"

    def _add_message(self, channel: Channel, message: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        stored = {"type": "message", "ts": ts, **message}
        channel.messages[ts] = stored
        return stored

    def _message(self, channel: Channel, ts: str) -> dict[str, Any]:
        message = channel.messages.get(ts)
        if message is None:
            raise SlackError("message_not_found")
        return message

    # ----- methods

    def m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "team_id": TEAM_ID,
            "user": "incident-bot",
            "user_id": BOT_USER,
            "bot_id": "B0BOT0001",
        }

    def m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode_url is None:
            raise SlackError("internal_error")
        return {"url": self.socket_mode_url()}

    def m_conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args["name"])
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not CHANNEL_NAME.fullmatch(name):
            raise SlackError("invalid_name_specials")
        if any(c.name == name for c in self.channels.values()):
            raise SlackError("name_taken")
        private = str(args.get("is_private", "false")).lower() in ("true", "1")
        channel = Channel(
            id=self._channel_id(private),
            name=name,
            is_private=private,
            creator=BOT_USER,
            created=int(time.time()),
            members={BOT_USER},
        )
        self.channels[channel.id] = channel
        return {"channel": channel.info()}

    def m_conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        users = args["users"] if isinstance(args["users"], list) else str(args["users"]).split(",")
        users = [u.strip() for u in users if u.strip()]
        if len(users) > INVITE_LIMIT:  # the method's spec: "Up to 100 users may be listed."
            self._problem(f"conversations.invite: {len(users)} users in one call; Slack takes up to {INVITE_LIMIT}")
            raise SlackError("invalid_arguments")
        if BOT_USER in users:
            raise SlackError("cant_invite_self")
        new = [u for u in users if u not in channel.members]
        if not new:
            raise SlackError("already_in_channel")
        channel.members.update(new)
        return {"channel": channel.info()}

    def m_conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if channel.is_private and BOT_USER not in channel.members:
            raise SlackError("channel_not_found")
        return {"members": sorted(channel.members), "response_metadata": {"next_cursor": ""}}

    def m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel(args["channel"]).info()}

    def m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages only (and thread parents), as Slack lists them."""
        channel = self._channel(args["channel"])
        if BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        latest = float(args.get("latest") or "inf")
        oldest = float(args.get("oldest") or 0)
        inclusive = str(args.get("inclusive", "false")).lower() in ("true", "1")
        limit = int(args.get("limit") or 100)

        def keep(ts: str) -> bool:
            value = float(ts)
            return (oldest <= value <= latest) if inclusive else (oldest < value < latest)

        messages = [
            m
            for ts, m in sorted(channel.messages.items(), reverse=True)
            if keep(ts) and m.get("thread_ts") in (None, ts)
        ]
        return {"messages": messages[:limit], "has_more": len(messages) > limit}

    def m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread, found by its parent's ts or by one reply's own ts; history lists top-level messages only."""
        channel = self._channel(args["channel"])
        if BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        found = channel.messages.get(str(args["ts"]))
        if found is None:
            raise SlackError("thread_not_found")
        parent = str(found.get("thread_ts") or found["ts"])
        thread = [m for ts, m in sorted(channel.messages.items()) if ts == parent or m.get("thread_ts") == parent]
        latest = float(args.get("latest") or "inf")
        oldest = float(args.get("oldest") or 0)
        inclusive = str(args.get("inclusive", "false")).lower() in ("true", "1")

        def keep(ts: str) -> bool:
            value = float(ts)
            return (oldest <= value <= latest) if inclusive else (oldest < value < latest)

        messages = [m for m in thread if keep(m["ts"])]
        limit = int(args.get("limit") or 1000)
        return {"messages": messages[:limit], "has_more": len(messages) > limit}

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        if not args.get("text") and not args.get("blocks"):
            raise SlackError("no_text")
        message = {"user": BOT_USER, "bot_id": "B0BOT0001", "text": args.get("text", "")}
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        if args.get("blocks"):
            message["blocks"] = self.check_blocks("chat.postMessage", args["blocks"], 50)
        stored = self._add_message(channel, message)
        return {"channel": channel.id, "ts": stored["ts"], "message": stored}

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        message = self._message(channel, args["ts"])
        if message.get("user") != BOT_USER:
            raise SlackError("cant_update_message")
        if "text" in args:
            message["text"] = args["text"]
        if args.get("blocks"):
            message["blocks"] = self.check_blocks("chat.update", args["blocks"], 50)
        message["edited"] = {"user": BOT_USER, "ts": self._next_ts()}
        return {"channel": channel.id, "ts": message["ts"], "text": message.get("text", "")}

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        if args.get("blocks"):
            self.check_blocks("chat.postEphemeral", args["blocks"], 50)
        self.ephemerals.append(
            {"channel": channel.id, "user": args["user"], "text": args.get("text", ""), "blocks": args.get("blocks")}
        )
        return {"message_ts": self._next_ts()}

    def m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        self._message(channel, args["message_ts"])
        return {
            "channel": channel.id,
            "permalink": f"https://fake.slack.com/archives/{channel.id}/p{args['message_ts'].replace('.', '')}",
        }

    def m_pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args["channel"])
        if "timestamp" not in args:
            raise SlackError("no_item_specified")
        self._message(channel, args["timestamp"])
        if args["timestamp"] in channel.pins:
            raise SlackError("already_pinned")
        channel.pins.add(args["timestamp"])
        return {}

    def m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args["trigger_id"])
        if trigger in self.used_triggers:
            raise SlackError("exchanged_trigger_id")
        self.used_triggers.add(trigger)
        view = self._view("views.open", args["view"])
        view_id = f"V{next(self._ids):08d}"
        stored = {**view, "id": view_id, "hash": f"{int(time.time())}.{view_id}", "state": {"values": {}}}
        self.views[view_id] = stored
        return {"view": stored}

    def m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if view_id not in self.views:
            raise SlackError("not_found")
        view = self._view("views.update", args["view"])
        self.views[view_id] = {**view, "id": view_id, "hash": f"{time.time()}.{view_id}", "state": {"values": {}}}
        return {"view": self.views[view_id]}

    def m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self.m_views_open(args)

    def m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._view("views.publish", args["view"])
        if view.get("type") != "home":
            raise SlackError("invalid_arguments")
        self.homes[str(args["user_id"])] = view
        return {"view": {**view, "id": f"V{next(self._ids):08d}"}}

    def m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args["user"])
        if not re.fullmatch(r"[UW][A-Z0-9]+", user):
            raise SlackError("user_not_found")
        guest = user in self.guests
        return {
            "user": {
                "id": user,
                "team_id": TEAM_ID,
                "name": user.lower(),
                "deleted": False,
                "is_bot": user == BOT_USER,
                "is_restricted": guest,
                "is_ultra_restricted": False,
                "profile": {
                    "real_name": user.lower(),
                    "display_name": user.lower(),
                    # only with users:read.email, as Slack does
                    **({"email": f"{user.lower()}@example.com"} if "users:read.email" in self.scopes else {}),
                },
            }
        }

    def m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        users = self.usergroups.get(str(args["usergroup"]))
        if users is None:
            raise SlackError("no_such_subteam")
        return {"users": users}

    def m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = {
            "id": file_id,
            "name": args["filename"],
            "length": int(args["length"]),
            "content": None,
            "title": None,
            "channels": [],
        }
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = json.loads(args["files"]) if isinstance(args["files"], str) else args["files"]
        completed = []
        for entry in entries:
            stored = self.files.get(entry["id"])
            if stored is None or stored["content"] is None:
                raise SlackError("file_not_found")
            stored["title"] = entry.get("title") or stored["name"]
            channel_id = args.get("channel_id")
            if channel_id:
                channel = self._channel(channel_id)
                stored["channels"].append(channel.id)
                self._add_message(
                    channel,
                    {
                        "user": BOT_USER,
                        "text": args.get("initial_comment", ""),
                        "files": [{"id": stored["id"], "name": stored["name"]}],
                    },
                )
            completed.append({"id": stored["id"], "title": stored["title"]})
        return {"files": completed}

    def m_files_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.pop(str(args["file"]), None)
        if stored is None:
            raise SlackError("file_not_found")
        for channel_id in stored["channels"]:
            channel = self.channels[channel_id]
            for ts, message in list(channel.messages.items()):
                if any(f["id"] == stored["id"] for f in message.get("files", [])):
                    del channel.messages[ts]
        return {}

    def m_conversations_canvases_create(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.canvases_allowed:
            raise SlackError("team_tier_cannot_create_channel_canvases")
        channel = self._channel(args["channel_id"])
        if channel.canvas_id:
            raise SlackError("channel_canvas_already_exists")
        canvas_id = f"F{next(self._ids):08d}"
        content = args.get("document_content") or {}
        self.canvases[canvas_id] = {"channel": channel.id, "markdown": content.get("markdown", ""), "edits": 0}
        channel.canvas_id = canvas_id
        return {"canvas_id": canvas_id}

    def m_canvases_edit(self, args: dict[str, Any]) -> dict[str, Any]:
        canvas = self.canvases.get(str(args["canvas_id"]))
        if canvas is None:
            raise SlackError("canvas_not_found")
        changes = json.loads(args["changes"]) if isinstance(args["changes"], str) else args["changes"]
        for change in changes:
            if change.get("operation") != "replace" or "section_id" in change:
                raise SlackError("invalid_arguments")
            canvas["markdown"] = change["document_content"]["markdown"]
            canvas["edits"] += 1
        return {}
