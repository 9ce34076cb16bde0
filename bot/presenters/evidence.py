"""What the probes found, in Slack: the picker re-ordered by evidence (an update of the picker), the rows behind it
in the picker's thread, the severity suggestion with its button."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.adapters.redis_store.messages import MessageStore
from bot.adapters.slack_api import SlackApi
from bot.presenters.reply import Reply
from bot.presenters.walkthrough import PICKER, WalkthroughPresenter
from bot.render.evidence import rows_message, severity_answered, severity_message
from bot.render.mrkdwn import user
from bot.services.evidence import EvidenceService, ProbesDone, suggestion_text
from bot.services.response import SuggestionAnswered


class EvidencePresenter:
    def __init__(
        self,
        slack: SlackApi,
        messages: MessageStore,
        evidence: EvidenceService,
        walkthrough: WalkthroughPresenter,
        timezone: ZoneInfo,
    ) -> None:
        self.slack = slack
        self.messages = messages
        self.evidence = evidence
        self.walkthrough = walkthrough
        self.timezone = timezone

    def show(self, done: ProbesDone) -> None:
        """The rows under the picker, the picker re-ordered, and a severity suggestion when the matrix disagrees."""
        incident = done.incident
        channel = incident.channel_id
        assert channel is not None
        picker = self.messages.get(incident.number, PICKER)
        ts = self.slack.post(channel, *rows_message(done.probed, done.labels, done.unprobed), thread_ts=picker)
        self.evidence.rows_shown(incident.number, self.slack.permalink(channel, ts))
        self.walkthrough.refresh(incident, PICKER)
        if done.suggestion is not None:
            said = suggestion_text(done.suggestion, incident)
            self.slack.post(channel, *severity_message(incident, done.suggestion, said))

    def answered(
        self, answered: SuggestionAnswered, channel: str, ts: str, said: str, actor: str, reply: Reply
    ) -> None:
        """The suggestion, in place, once answered (who chose what, when) or stale (the severity changed since);
        a second answer is told who answered first."""
        incident = answered.incident
        if answered.answered_by is not None:
            reply(f"{user(answered.answered_by)} already answered this suggestion.")
            return
        at = answered.at.astimezone(self.timezone)
        if answered.stale:
            reply(
                f"This suggestion was about {answered.declared.label}; {incident.reference} is "
                f"{incident.severity.label} now, so it no longer applies."
            )
            answer = f"Stale: the severity changed to {incident.severity.label} since"
        elif answered.kept:
            answer = f"Kept {incident.severity.label} by {user(actor)} at {at:%H:%M}"
        elif answered.changed is not None:
            now = answered.changed.incident.severity
            verb = "Raised" if now.value < answered.declared.value else "Lowered"
            answer = f"{verb} to {now.label} by {user(actor)} at {at:%H:%M}"
        else:
            return
        self.slack.update(channel, ts, *severity_answered(said, answer))
