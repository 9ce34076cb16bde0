"""The action items in Slack: the list with their issues (to the person who asked), the thread in the incident's
channel where each export and each change made in a tracker gets one line, and the daily digest."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.adapters.redis_store.messages import MessageStore
from bot.adapters.slack_api import SlackApi
from bot.core.incident import Incident
from bot.core.tracking import ActionItems, Overdue
from bot.presenters.reply import Reply
from bot.render.action_items import THREAD_PARENT, items_message, overdue_message
from bot.render.blocks import section

THREAD = "action-items"  # the message whose thread holds the lines


class ParentBeingPosted(Exception):
    """Another process is posting the thread's first message: the job is tried again shortly."""


class ActionItemsPresenter:
    def __init__(self, slack: SlackApi, messages: MessageStore, timezone: ZoneInfo, trackers: tuple[str, ...]) -> None:
        self.slack = slack
        self.messages = messages
        self.timezone = timezone
        self.trackers = trackers

    def listed(self, actions: ActionItems, reply: Reply) -> None:
        reply(*items_message(actions, self.timezone))

    def export_asked(self, actions: ActionItems, reply: Reply) -> None:
        count = len(actions.items)
        reply(
            f":outbox_tray: Exporting {count} action item(s) of {actions.incident.reference} to "
            f"{' and '.join(actions.trackers)}; each issue's link follows in the channel's action-items thread."
        )

    def tell(self, incident: Incident, text: str) -> None:
        """One line in the incident's action-items thread (its first message is posted first, once)."""
        assert incident.channel_id is not None
        parent = self.messages.get(incident.number, THREAD)
        if parent is None:
            if not self.messages.claim(incident.number, THREAD):
                raise ParentBeingPosted(f"the action-items thread of {incident.reference} is being posted")
            trackers = " and ".join(self.trackers) or "the trackers"
            first = THREAD_PARENT.format(reference=incident.reference, trackers=trackers)
            parent = self.slack.post(incident.channel_id, first, [section(first)])
            self.messages.set(incident.number, THREAD, parent)
        self.slack.post(incident.channel_id, text, [section(text)], thread_ts=parent)

    def overdue(self, found: list[Overdue]) -> None:
        for late in found:
            if late.incident.channel_id:
                self.slack.post(late.incident.channel_id, *overdue_message(late, self.timezone))
