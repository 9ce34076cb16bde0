"""What the use cases need from outside, as ports: the chat workspace (who is in a channel or a group, a channel
for an incident, a message someone marked), where events go, and the trackers. The adapters implement them; the
use cases never see Slack's API, its ids' syntax or its errors beyond `WorkspaceError`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.core.events import Event
from bot.core.incident import Incident
from bot.core.tracking import IssueDraft, Tracked


class WorkspaceError(Exception):
    """The workspace refused or failed a call; `method` and `error` say which and why."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack refused {method}: {error}")
        self.method = method
        self.error = error


@dataclass(frozen=True)
class PostedMessage:
    text: str
    author: str | None
    permalink: str


class Workspace(Protocol):
    def create_channel(self, name: str, *, private: bool) -> str | None:
        """The new channel's id, or None when the name is taken."""
        ...

    def channel_members(self, channel: str) -> set[str]: ...

    def usergroup_members(self, usergroup: str) -> list[str]: ...

    def bot_user_id(self) -> str: ...

    def team_id(self) -> str:
        """The workspace the bot is installed in."""
        ...

    def is_guest(self, user: str) -> bool:
        """A single- or multi-channel guest of the workspace."""
        ...

    def person(self, user: str) -> tuple[str, str | None]:
        """How Slack names someone, and their email when the app may read it (`users:read.email`)."""
        ...

    def posted_message(self, channel: str, ts: str) -> PostedMessage | None:
        """A message of a channel, a thread reply included, with its permalink; None when it is gone."""
        ...


@dataclass(frozen=True)
class Identity:
    """Who signed in to the web view, as the identity provider vouches."""

    user_id: str
    team_id: str
    name: str


class SignInFailed(Exception):
    """The identity provider refused or failed a sign-in; the message is one sentence for the person."""


class IdentityProvider(Protocol):
    """Sign in with Slack: where to send the person, and who came back."""

    def authorize_url(self, state: str, nonce: str, redirect_uri: str) -> str: ...

    def identify(self, code: str, redirect_uri: str, nonce: str) -> Identity: ...


@dataclass(frozen=True)
class DraftWritten:
    where: str  # for the timeline: "written to the channel canvas"
    said: str  # for the person who asked: "the channel canvas"


class DraftDestination(Protocol):
    """Where an incident's post-mortem draft is kept: one document, written again in place."""

    def holds_draft(self, number: int) -> bool:
        """A draft of the incident was written there before."""
        ...

    def write(self, incident: Incident, draft: Callable[[Callable[[str], str]], str]) -> DraftWritten:
        """Writes `draft(mention)`, the Markdown with people written by `mention` as the destination shows them."""
        ...


class EventSink(Protocol):
    """Where events that record no write of their own go (the outbox); the others go with their write."""

    def publish(self, *events: Event) -> None: ...


class Tracker(Protocol):
    """A tracker the action items go to (GitHub Issues, Jira): one module of bot/adapters each."""

    name: str

    def find(self, key: str) -> Tracked | None:
        """The issue made for the item with this key, if there is one already."""
        ...

    def create(self, draft: IssueDraft) -> Tracked: ...

    def check(self) -> str:
        """A read that changes nothing, for `incident-bot doctor`: what the credentials reach."""
        ...
