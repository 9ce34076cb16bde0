"""Incidents in Slack: the declare on its critical path (header, checklist, then everything else at once), the
pinned header kept current, the incident lists (status, the Home tab)."""

from __future__ import annotations

from bot.adapters.redis_store.messages import MessageStore
from bot.adapters.slack_api import SlackApi
from bot.core.clock import Clock
from bot.core.incident import Incident
from bot.presenters.reply import Reply
from bot.presenters.walkthrough import Edit, WalkthroughPresenter
from bot.render.blocks import Blocks, incident_header, incident_list, section
from bot.render.home import home_view
from bot.render.mrkdwn import channel
from bot.services.incidents import Declared, IncidentService
from bot.services.paging import Paging
from bot.services.timers import Deadlines

HEADER = "header"


class IncidentPresenter:
    def __init__(
        self,
        slack: SlackApi,
        messages: MessageStore,
        incidents: IncidentService,
        deadlines: Deadlines,
        walkthrough: WalkthroughPresenter,
        clock: Clock,
        paging: Paging,
    ) -> None:
        self.paging = paging
        self.slack = slack
        self.messages = messages
        self.incidents = incidents
        self.deadlines = deadlines
        self.walkthrough = walkthrough
        self.clock = clock
        self.timezone = walkthrough.timezone

    def opened(self, declared: Declared, reply: Reply) -> tuple[Incident, str] | None:
        """The critical path of a declaration: the header, then the checklist; the incident and the header's ts.
        A declaration already made from the same request is answered with where it is, and None."""
        incident = declared.incident
        if declared.duplicate:
            reply(f"{incident.reference} was already declared from this request: {self.where(incident)}")
            return None
        assert incident.channel_id is not None
        header_ts = self.slack.post(incident.channel_id, *self.header(incident))
        self.messages.set(incident.number, HEADER, header_ts)
        self.walkthrough.post_checklist(incident)
        return incident, header_ts

    def pin_header(self, incident: Incident, header_ts: str) -> None:
        assert incident.channel_id is not None
        self.slack.pin(incident.channel_id, header_ts)

    def invite(self, incident: Incident, responders: list[str]) -> None:
        assert incident.channel_id is not None
        self.slack.invite(incident.channel_id, responders)

    def announce(self, incident: Incident, reply: Reply) -> None:
        """The declarer is told where the incident is."""
        reply(
            f":rotating_light: Declared {incident.reference} ({incident.severity.label}): join {self.where(incident)}"
        )

    def where(self, incident: Incident) -> str:
        return channel(incident.channel_id) if incident.channel_id else str(incident.channel_name)

    def header(self, incident: Incident) -> tuple[str, Blocks]:
        level = self.incidents.level(incident)
        deadline = self.deadlines.deadline(incident)
        pages = self.paging.states(incident.number)
        return incident_header(incident, level, deadline, self.timezone, self.clock.now(), pages)

    def refresh_header(self, incident: Incident) -> None:
        """The pinned header, updated in place after a change (changes close together are sent as one)."""
        self.walkthrough.updates.request(
            f"{incident.number}:{HEADER}", lambda: self._latest_header(incident.number), self.walkthrough.edit
        )

    def _latest_header(self, number: int) -> Edit | None:
        incident = self.incidents.find(number)
        ts = self.messages.get(number, HEADER)
        return (
            Edit(incident.channel_id, ts, *self.header(incident)) if incident and incident.channel_id and ts else None
        )

    def tell(self, incident: Incident, text: str) -> None:
        """One message from the bot in the incident's channel (what a pager said, for instance)."""
        if incident.channel_id:
            self.slack.post(incident.channel_id, text, [section(text)])

    def status(self, found: Incident | list[Incident], reply: Reply) -> None:
        """The incident of the channel with its header, or the open incidents the viewer may see."""
        if isinstance(found, Incident):
            reply(*self.header(found))
            return
        reply("Open incidents", incident_list(found, self.clock.now()))

    def home(self, viewer: str, incidents: list[Incident]) -> None:
        """The App Home tab: the open incidents `viewer` may see."""
        self.slack.publish_home(viewer, home_view(incidents, self.clock.now()))
