"""The Slack Web API calls the bot makes, with retries and Slack's errors turned into one exception type.

Rate limits (HTTP 429) are waited out per `Retry-After`, except by message updates, which are coalesced and
sent again later (`update(…, wait=False)` raises with the wait instead); server errors (5xx) are retried a
bounded number of times; the base URL comes from SLACK_API_BASE_URL so GovSlack and the tests' fake work too.
"""

from __future__ import annotations

from typing import Any, cast

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler, default_retry_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.services.ports import PostedMessage, WorkspaceError

RATE_LIMIT_RETRIES = 5
SERVER_ERROR_RETRIES = 2
TIMEOUT_SECONDS = 10
INVITE_BATCH = 100


def retry_handlers(wait_on_rate_limits: bool = True) -> list[RetryHandler]:
    """slack_sdk's defaults (a reset connection is retried) plus server errors, and rate limits unless the
    caller waits them out itself."""
    limits = [RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)] if wait_on_rate_limits else []
    return [*default_retry_handlers(), *limits, ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES)]


def build_web_client(token: str, base_url: str, wait_on_rate_limits: bool = True) -> WebClient:
    return WebClient(
        token=token, base_url=base_url, timeout=TIMEOUT_SECONDS, retry_handlers=retry_handlers(wait_on_rate_limits)
    )


JsonBlocks = list[dict[str, Any]]  # Block Kit as the API takes it (bot/render builds them)


class SlackCallFailed(WorkspaceError):
    """Slack refused a call (an error code) or failed it (an HTTP status after the retries); `retry_after` is
    the wait Slack asked for when it answered 429."""

    def __init__(self, method: str, error: str, retry_after: float | None = None) -> None:
        super().__init__(method, error)
        self.retry_after = retry_after


class SlackApi:
    """The Web API calls the bot makes; it is also the use cases' `Workspace` (bot/services/ports.py)."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._no_wait = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            retry_handlers=retry_handlers(wait_on_rate_limits=False),
        )

    def _call(self, method: str, *, wait: bool = True, **args: Any) -> dict[str, Any]:
        """Calls `method` through slack_sdk's typed method, which knows whether Slack takes JSON or a form."""
        typed_method = getattr(self._client if wait else self._no_wait, method.replace(".", "_"))
        try:
            response = typed_method(**{k: v for k, v in args.items() if v is not None})
        except SlackApiError as error:
            status = error.response.status_code
            reason = error.response.get("error") if status < 500 and isinstance(error.response.data, dict) else None
            headers = {k.lower(): v for k, v in (error.response.headers or {}).items()}
            retry_after = float(headers.get("retry-after", 1)) if status == 429 else None
            raise SlackCallFailed(method, str(reason or f"HTTP {status}"), retry_after) from None
        return cast(dict[str, Any], response.data)

    def bot_user_id(self) -> str:
        return str(self._call("auth.test")["user_id"])

    def team_id(self) -> str:
        return str(self._call("auth.test")["team_id"])

    def create_channel(self, name: str, *, private: bool) -> str | None:
        """The new channel's id, or None when the name is taken."""
        try:
            return str(self._call("conversations.create", name=name, is_private=private)["channel"]["id"])
        except SlackCallFailed as failure:
            if failure.error == "name_taken":
                return None
            raise

    def invite(self, channel: str, users: list[str]) -> None:
        """Invites everyone, a hundred a call (conversations.invite takes up to 100 user ids)."""
        for start in range(0, len(users), INVITE_BATCH):
            batch = users[start : start + INVITE_BATCH]
            try:
                self._call("conversations.invite", channel=channel, users=",".join(batch), force=True)
            except SlackCallFailed as failure:
                if failure.error not in ("already_in_channel", "cant_invite_self"):
                    raise

    def channel_members(self, channel: str) -> set[str]:
        members: set[str] = set()
        cursor = None
        while True:
            page = self._call("conversations.members", channel=channel, cursor=cursor, limit=1000)
            members.update(page["members"])
            cursor = page.get("response_metadata", {}).get("next_cursor")
            if not cursor:
                return members

    def is_guest(self, user: str) -> bool:
        found = self._call("users.info", user=user)["user"]
        return bool(found.get("is_restricted") or found.get("is_ultra_restricted"))

    def person(self, user: str) -> tuple[str, str | None]:
        found = self._call("users.info", user=user)["user"]
        profile = found.get("profile") or {}
        name = profile.get("real_name") or profile.get("display_name") or found.get("name") or user
        return str(name), (str(profile["email"]) if profile.get("email") else None)

    def usergroup_members(self, usergroup: str) -> list[str]:
        return list(self._call("usergroups.users.list", usergroup=usergroup)["users"])

    def post(self, channel: str, text: str, blocks: JsonBlocks | None = None, *, thread_ts: str | None = None) -> str:
        answer = self._call("chat.postMessage", channel=channel, text=text, blocks=blocks, thread_ts=thread_ts)
        return str(answer["ts"])

    def post_direct(self, user: str, text: str, blocks: JsonBlocks | None = None) -> tuple[str, str]:
        """Posts in the person's DM with the app; returns the DM channel and the message ts."""
        answer = self._call("chat.postMessage", channel=user, text=text, blocks=blocks)
        return str(answer["channel"]), str(answer["ts"])

    def update(self, channel: str, ts: str, text: str, blocks: JsonBlocks | None = None, *, wait: bool = True) -> None:
        """Edits a message; with `wait=False` a 429 is raised at once (its `retry_after` set), not waited out."""
        self._call("chat.update", wait=wait, channel=channel, ts=ts, text=text, blocks=blocks)

    def pin(self, channel: str, ts: str) -> None:
        try:
            self._call("pins.add", channel=channel, timestamp=ts)
        except SlackCallFailed as failure:
            if failure.error != "already_pinned":
                raise

    def upload(self, channel: str, filename: str, content: bytes, title: str, *, thread_ts: str | None = None) -> str:
        """Uploads a file into a channel (files upload v2: get an upload URL, send the bytes, complete)."""
        ticket = self._call("files.getUploadURLExternal", filename=filename, length=len(content))
        try:
            sent = requests.post(ticket["upload_url"], data=content, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            raise SlackCallFailed("file upload", type(error).__name__) from None
        if sent.status_code != 200:
            raise SlackCallFailed("file upload", f"HTTP {sent.status_code}")
        self._call(
            "files.completeUploadExternal",
            files=[{"id": ticket["file_id"], "title": title}],
            channel_id=channel,
            thread_ts=thread_ts,
        )
        return str(ticket["file_id"])

    def posted_message(self, channel: str, ts: str) -> PostedMessage | None:
        """One message by its ts, a thread reply included: conversations.replies takes a reply's own ts
        (conversations.history lists top-level messages only)."""
        try:
            answer = self._call("conversations.replies", channel=channel, ts=ts, latest=ts, oldest=ts, inclusive=True)
        except SlackCallFailed as failure:
            if failure.error in ("thread_not_found", "message_not_found"):
                return None
            raise
        message = next((m for m in answer.get("messages") or [] if m.get("ts") == ts), None)
        if message is None:
            return None
        permalink = str(self._call("chat.getPermalink", channel=channel, message_ts=ts)["permalink"])
        return PostedMessage(str(message.get("text", "")), message.get("user"), permalink)

    def permalink(self, channel: str, ts: str) -> str:
        return str(self._call("chat.getPermalink", channel=channel, message_ts=ts)["permalink"])

    def create_channel_canvas(self, channel: str, markdown: str) -> str:
        document = {"type": "markdown", "markdown": markdown}
        return str(
            self._call("conversations.canvases.create", channel_id=channel, document_content=document)["canvas_id"]
        )

    def replace_canvas(self, canvas_id: str, markdown: str) -> None:
        change = {"operation": "replace", "document_content": {"type": "markdown", "markdown": markdown}}
        self._call("canvases.edit", canvas_id=canvas_id, changes=[change])

    def delete_file(self, file_id: str) -> None:
        try:
            self._call("files.delete", file=file_id)
        except SlackCallFailed as failure:
            if failure.error not in ("file_not_found", "file_deleted"):
                raise

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self._call("views.open", trigger_id=trigger_id, view=view)

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        self._call("views.publish", user_id=user, view=view)


def respond(response_url: str, text: str, blocks: JsonBlocks | None = None) -> None:
    """Answers the person who typed a command or clicked, ephemerally, through the interaction's response_url."""
    client = WebhookClient(response_url, timeout=TIMEOUT_SECONDS, retry_handlers=retry_handlers())
    client.send(text=text, blocks=blocks, response_type="ephemeral")
