"""Related incidents in Slack: posted in the incident's channel on declare and when a playbook starts, or answered
to one person (`/incident similar`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.adapters.slack_api import SlackApi
from bot.core.incident import Incident
from bot.core.related import Match
from bot.presenters.reply import Reply
from bot.render.evidence import related_message


class RelatedPresenter:
    def __init__(self, slack: SlackApi, timezone: ZoneInfo) -> None:
        self.slack = slack
        self.timezone = timezone

    def in_channel(self, incident: Incident, matches: list[Match], title: str = "") -> None:
        """Earlier incidents like this one, posted in its channel (nothing when there are none)."""
        if matches and incident.channel_id:
            heading = f"Seen before: {title}" if title else "Seen before"
            self.slack.post(incident.channel_id, *related_message(matches, heading, self.timezone))

    def search(self, text: str, here: Incident | None, matches: list[Match], reply: Reply) -> None:
        """`/incident similar [TEXT]`, answered to the person alone."""
        subject = f"“{text}”" if text else (here.reference if here else "")
        if not matches:
            reply(f"No earlier incident looks like {subject}.")
            return
        reply(*related_message(matches, f"Earlier incidents like {subject}", self.timezone))
