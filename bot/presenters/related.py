"""Related incidents in Slack: posted in the incident's channel on declare and when a playbook starts, or answered
to one person (`/incident similar`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.adapters.slack_api import SlackApi
from bot.core.incident import Incident
from bot.presenters.reply import Reply
from bot.render.evidence import related_message
from bot.services.related import RelatedService


class RelatedPresenter:
    def __init__(self, slack: SlackApi, related: RelatedService, timezone: ZoneInfo) -> None:
        self.slack = slack
        self.related = related
        self.timezone = timezone

    def in_channel(self, incident: Incident, playbook: str | None = None, title: str = "") -> None:
        """Up to three earlier incidents like this one (that ran `playbook`, when given), posted in its channel."""
        matches = self.related.for_channel(incident, playbook)
        if matches and incident.channel_id:
            heading = f"Seen before: {title}" if title else "Seen before"
            self.slack.post(incident.channel_id, *related_message(matches, heading, self.timezone))

    def search(self, viewer: str, text: str, here: Incident | None, reply: Reply) -> None:
        """`/incident similar [TEXT]`, answered to the person alone."""
        matches = self.related.search(viewer, text, here)
        subject = f"“{text}”" if text else (here.reference if here else "")
        if not matches:
            reply(f"No earlier incident looks like {subject}.")
            return
        reply(*related_message(matches, f"Earlier incidents like {subject}", self.timezone))
