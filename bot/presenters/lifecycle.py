"""After the declaration, in Slack: the timeline a page at a time, resolving, and the post-mortem draft in the
channel's canvas (or, where a workspace refuses canvases or the draft is over 1 MiB, a Markdown file)."""

from __future__ import annotations

from collections.abc import Callable

from bot.adapters.redis_store.messages import CANVAS, FILE, MessageStore
from bot.adapters.slack_api import SlackApi, SlackCallFailed
from bot.core.incident import Incident
from bot.presenters.approvals import ApprovalPresenter
from bot.presenters.incidents import IncidentPresenter
from bot.render.timeline import timeline_message
from bot.services.lifecycle import LifecycleService, Resolved
from bot.services.ports import DraftWritten

# Canvas errors of workspaces that cannot have them (free plans, disabled by an admin): fall back to a file.
NO_CANVAS = frozenset(
    {
        "team_tier_cannot_create_channel_canvases",
        "free_team_canvas_tab_already_exists",
        "canvas_disabled_user_team",
        "free_teams_cannot_edit_standalone_canvases",
        "restricted_action",
        "canvas_creation_failed",
        "channel_canvas_creation_failed",
        "canvas_too_large",
    }
)
CANVAS_LIMIT = 1_000_000  # Slack takes at most 1 MiB of canvas Markdown; a longer draft goes out as a file


def canvas_mention(user_id: str) -> str:
    """A user mention as Slack canvases write it."""
    return f"![](@{user_id})"


def plain_mention(user_id: str) -> str:
    return f"@{user_id}"


class LifecyclePresenter:
    def __init__(
        self,
        slack: SlackApi,
        messages: MessageStore,
        lifecycle: LifecycleService,
        incidents: IncidentPresenter,
        approvals: ApprovalPresenter,
    ) -> None:
        self.slack = slack
        self.messages = messages
        self.lifecycle = lifecycle
        self.incidents = incidents
        self.approvals = approvals

    def post_timeline(self, number: int) -> None:
        incident, entries = self.lifecycle.timeline_entries(number)
        assert incident.channel_id is not None
        self.slack.post(incident.channel_id, *timeline_message(incident, entries, 1, self.incidents.timezone))

    def turn_timeline_page(self, number: int, page: int, channel: str, ts: str) -> None:
        incident, entries = self.lifecycle.timeline_entries(number)
        self.slack.update(channel, ts, *timeline_message(incident, entries, page, self.incidents.timezone))

    def resolved(self, resolved: Resolved) -> None:
        """The header, the cards of what resolving cancelled, and what is still in effect in the org (with where to
        revert it)."""
        self.incidents.refresh_header(resolved.incident)
        for approval_id in resolved.cancelled:
            self.approvals.refresh(approval_id)
        if resolved.in_effect:
            self.approvals.still_in_effect(resolved.incident, resolved.in_effect)

    # ----- where the post-mortem draft goes (LifecycleService.publish_postmortem's DraftDestination)

    def holds_draft(self, number: int) -> bool:
        return bool(self.messages.get(number, CANVAS) or self.messages.get(number, FILE))

    def write(self, incident: Incident, draft: Callable[[Callable[[str], str]], str]) -> DraftWritten:
        """The channel's canvas, or, where canvases are refused or the draft is over 1 MiB, a Markdown file; again,
        the same document."""
        assert incident.channel_id is not None
        number = incident.number
        try:
            markdown = draft(canvas_mention)
            if len(markdown) > CANVAS_LIMIT:
                raise SlackCallFailed("conversations.canvases.create", "canvas_too_large")
            canvas = self.messages.get(number, CANVAS)
            if canvas:
                self.slack.replace_canvas(canvas, markdown)
            else:
                self.messages.set(number, CANVAS, self.slack.create_channel_canvas(incident.channel_id, markdown))
            return DraftWritten("written to the channel canvas", "the channel canvas")
        except SlackCallFailed as failure:
            if failure.error not in NO_CANVAS:
                raise
        previous = self.messages.get(number, FILE)
        if previous:
            self.slack.delete_file(previous)
        name = f"{incident.reference.lower()}-postmortem.md"
        file_id = self.slack.upload(
            incident.channel_id, name, draft(plain_mention).encode(), f"Post-mortem draft: {incident.title}"
        )
        self.messages.set(number, FILE, file_id)
        return DraftWritten("uploaded as a Markdown file", "a Markdown file (this workspace does not allow canvases)")
