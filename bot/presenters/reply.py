"""Answering the person who acted: ephemerally through the interaction's response_url, or, where there is none
(a modal opened from a message), in their direct messages with the bot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.adapters.slack_api import SlackApi, respond
from bot.render.blocks import Blocks


class Reply(Protocol):
    def __call__(self, text: str, blocks: Blocks | None = None) -> None: ...


@dataclass(frozen=True)
class Ephemeral:
    response_url: str

    def __call__(self, text: str, blocks: Blocks | None = None) -> None:
        respond(self.response_url, text, blocks)


@dataclass(frozen=True)
class Direct:
    slack: SlackApi
    user: str

    def __call__(self, text: str, blocks: Blocks | None = None) -> None:
        self.slack.post(self.user, text, blocks)


def reply_to(slack: SlackApi, user: str, response_url: str | None) -> Reply:
    return Ephemeral(response_url) if response_url else Direct(slack, user)
