"""Response targets in Slack: the escalation pages (user groups are mentioned here, nowhere else), update
reminders, acknowledgements, severity and role changes, and status updates (announced where they may be)."""

from __future__ import annotations

from bot.adapters.slack_api import SlackApi, SlackCallFailed
from bot.presenters.incidents import IncidentPresenter
from bot.presenters.lifecycle import LifecyclePresenter
from bot.presenters.reply import Reply
from bot.render.blocks import section
from bot.render.mrkdwn import escape, user
from bot.services.response import (
    Acknowledged,
    DueSoon,
    Escalated,
    RoleAssigned,
    SeverityChanged,
    UpdateDue,
    UpdatePosted,
)


class ResponsePresenter:
    def __init__(self, slack: SlackApi, incidents: IncidentPresenter, lifecycle: LifecyclePresenter) -> None:
        self.slack = slack
        self.incidents = incidents
        self.lifecycle = lifecycle

    def timer(self, fired: DueSoon | Escalated | UpdateDue | None) -> None:
        if isinstance(fired, DueSoon):
            self.incidents.refresh_header(fired.incident)
        elif isinstance(fired, Escalated):
            self._escalate(fired)
        elif isinstance(fired, UpdateDue):
            incident = fired.incident
            assert incident.channel_id is not None
            text = (
                f":loudspeaker: {user(incident.commander)}, no status update for {incident.reference} in the last "
                f"{fired.cadence_minutes} min ({incident.severity.label} cadence). Post one with `/incident update`."
            )
            self.slack.post(incident.channel_id, f"{incident.reference} needs a status update", [section(text)])

    def _escalate(self, fired: Escalated) -> None:
        incident = fired.incident
        assert incident.channel_id is not None
        who = f"<!subteam^{fired.group}>" if fired.group else "<!here>"
        text = (
            f":rotating_light: {who} {incident.reference} ({incident.severity.label}) is not acknowledged: its "
            f"response target passed {fired.minutes_late} min ago. {user(incident.commander)}, press "
            "*Acknowledge* on the header."
        )
        title = f"Escalation {fired.level}: {incident.reference} is not acknowledged"
        self.slack.post(incident.channel_id, title, [section(text)])
        self.incidents.refresh_header(incident)

    def acknowledged(self, outcome: Acknowledged, reply: Reply) -> None:
        incident = outcome.incident
        if outcome.already:
            at = incident.acknowledged_at.astimezone(self.incidents.timezone) if incident.acknowledged_at else None
            reply(
                f"{incident.reference} was already acknowledged by {user(incident.acknowledged_by or '?')}"
                + (f" at {at:%H:%M}." if at else ".")
            )
            return
        self.incidents.refresh_header(incident)
        reply(f"{incident.reference} acknowledged: the escalation is off.")

    def severity_changed(self, outcome: SeverityChanged, reply: Reply) -> None:
        incident = outcome.incident
        if outcome.already:
            reply(f"{incident.reference} is already {incident.severity.label}.")
            return
        self.incidents.refresh_header(incident)
        deadline = outcome.deadline.astimezone(self.incidents.timezone)
        target = f"{deadline:%Y-%m-%d %H:%M %Z}"
        reply(f"{incident.reference} is now {incident.severity.label}; the response target is {target}.")

    def role_assigned(self, outcome: RoleAssigned, reply: Reply) -> None:
        incident = outcome.incident
        assert incident.channel_id is not None
        self.slack.invite(incident.channel_id, [outcome.person])
        self.incidents.refresh_header(incident)
        reply(f"{user(outcome.person)} is now the {outcome.role.value} of {incident.reference}.")

    def update_posted(self, posted: UpdatePosted, reply: Reply) -> None:
        incident = posted.incident
        assert incident.channel_id is not None
        update = (
            f":loudspeaker: *{incident.reference} update: {posted.status.value}* ({incident.severity.label}, "
            f"{escape(incident.title)})\n{escape(posted.text)}\n_from {user(posted.actor)}_"
        )
        title = f"{incident.reference} update: {posted.status.value}"
        self.slack.post(incident.channel_id, title, [section(update)])
        announced = ""
        if posted.announce_in:
            try:
                self.slack.post(posted.announce_in, title, [section(update)])
                announced = " and in the announcements channel"
            except SlackCallFailed as failure:
                announced = f"; the announcements channel refused it ({failure.error}: invite the bot there)"
        elif posted.withheld:
            announced = "; not announced, as the incident is private"
        if posted.resolved is not None:
            self.lifecycle.resolved(posted.resolved)
        else:
            self.incidents.refresh_header(incident)
        reply(f"Update posted here{announced}.")
