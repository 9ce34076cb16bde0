"""Action items in the team's tracker, as the incident sees them: exporting each item once per tracker (the
trackers' subscribers call `export_item`), asking for an export (`/incident actions export`, the button), what a
tracker says back through its signed webhook (closed, reopened, reassigned, rescheduled there), the list of items
with their issues, and the daily digest of overdue ones.

One issue per item and tracker: the bot looks for the item's key in the tracker before it creates (a create whose
answer was lost is found, not made twice). A refusal (a wrong token, a project that does not exist) is recorded on
the item, said once in the channel, and not retried: the next export tries again. A tracker that is down fails the
job, which RQ tries again later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.adapters import github, jira
from bot.adapters.redis_store.incidents import IncidentStore
from bot.adapters.redis_store.tracked import TrackedStore
from bot.adapters.redis_store.webhooks import Deliveries
from bot.adapters.scheduler import Scheduler
from bot.core.access import Privilege
from bot.core.clock import Clock
from bot.core.events import ActionItemChanged, ExportRequested
from bot.core.incident import Incident
from bot.core.outside import ServiceRefused, ServiceUnavailable
from bot.core.timeline import EntryKind
from bot.core.tracking import ActionItems, IssueChange, Item, Overdue, Owner, apply, draft_for, item_key, overdue
from bot.jobs import JobName
from bot.services.access import Access
from bot.services.errors import UserError, incident_or_refuse
from bot.services.links import incident_links
from bot.services.ports import EventSink, Tracker, Workspace, WorkspaceError
from bot.services.timeline import TimelineService
from bot.services.webhooks import signed

logger = logging.getLogger(__name__)
REMINDER_JOB = "remind-actions"
SEARCH_SETTLE = timedelta(minutes=5)


@dataclass(frozen=True)
class Told:
    """A line for the incident's action-items thread (the job that posts it is Slack's)."""

    incident: int
    text: str


class Tracking:
    def __init__(
        self,
        incidents: IncidentStore,
        tracked: TrackedStore,
        deliveries: Deliveries,
        timeline: TimelineService,
        access: Access,
        events: EventSink,
        scheduler: Scheduler,
        workspace: Workspace,
        clock: Clock,
        timezone: ZoneInfo,
        trackers: Sequence[Tracker],
        *,
        key_prefix: str,
        web_base_url: str | None,
        github_users: Mapping[str, str],
        github_repository: str | None,
        private_allowed: bool,
        webhook_secrets: Mapping[str, str | None],
        reminders_at: time | None,
    ) -> None:
        self.incidents = incidents
        self.tracked = tracked
        self.deliveries = deliveries
        self.timeline = timeline
        self.access = access
        self.events = events
        self.scheduler = scheduler
        self.workspace = workspace
        self.clock = clock
        self.timezone = timezone
        self.trackers = tuple(tracker.name for tracker in trackers)
        self.key_prefix = key_prefix
        self.web_base_url = web_base_url
        self.github_users = github_users
        self.github_repository = github_repository
        self.private_allowed = private_allowed
        self._secrets = webhook_secrets
        self.reminders_at = reminders_at

    # ----- in Slack

    def items(self, number: int) -> ActionItems:
        """`/incident actions`, typed in the incident's channel: every item with its issues and refusals."""
        incident = incident_or_refuse(self.incidents.get(number), number, open_only=False)
        return ActionItems(incident, self._items(incident.number), self.trackers)

    def export(self, number: int, actor: str) -> ActionItems:
        """`/incident actions export` and the button: every item not exported yet goes to every tracker now, and
        items added later follow."""
        incident = incident_or_refuse(self.incidents.get(number), number, open_only=False)
        self.access.require(incident, actor, Privilege.ACT)
        if not self.trackers:
            raise UserError(
                "No tracker is set up: set GITHUB_TOKEN and GITHUB_REPOSITORY, or the JIRA_* settings (see README, "
                "Action items in your tracker)."
            )
        found = self._items(number)
        if not found:
            raise UserError(f"{incident.reference} has no action items yet: `/incident action TEXT @owner YYYY-MM-DD`.")
        self.events.publish(ExportRequested(incident=number, at=self.clock.now(), actor=actor))
        return ActionItems(incident, found, self.trackers)

    # ----- the trackers' subscribers

    def export_item(self, tracker: Tracker, number: int, place: int) -> Told | None:
        """One item to one tracker, once: found by its key if it was made already, else created. ServiceUnavailable
        leaves it for the job's retry."""
        incident = self.incidents.get(number)
        items = self.incidents.actions(number)
        if incident is None or place >= len(items) or self.tracked.get(number, tracker.name, place) is not None:
            return None
        key = item_key(self.key_prefix, number, place)
        try:
            issue = tracker.find(key)
            if issue is None:
                self._not_sent_lately(tracker.name, number, place)
                owner = self._owner(items[place].owner, tracker.name)
                links = incident_links(incident, self.web_base_url)
                draft = draft_for(
                    incident, items[place], place, key, owner, links, private_allowed=self.private_allowed
                )
                self.tracked.creating(number, tracker.name, place, self.clock.now())
                issue = tracker.create(draft)
        except ServiceRefused as refused:
            return self._refused(incident, tracker.name, place, str(refused))
        self.tracked.save(number, place, issue)
        text = f"Action item {place + 1} exported to {tracker.name} {issue.label}: {issue.url}"
        self.timeline.record(number, EntryKind.ACTION, text)
        return Told(number, f":link: Action item {place + 1} is <{issue.url}|{tracker.name} {issue.label}>.")

    def _not_sent_lately(self, tracker: str, number: int, place: int) -> None:
        """A create sent a moment ago whose answer was lost may not show in the tracker's search yet (GitHub's and
        Jira's indexes lag): wait for it rather than make a second issue; after SEARCH_SETTLE, create again."""
        since = self.tracked.creating_since(number, tracker, place)
        if since is not None and self.clock.now() - since < SEARCH_SETTLE:
            raise ServiceUnavailable(
                f"{tracker} has not shown the issue for action item {place + 1} sent at {since:%H:%M} UTC yet"
            )

    def follow(self, number: int) -> list[int]:
        """From now on the incident's items are exported (published, or asked for): every place to export."""
        self.tracked.follow(number)
        if self.reminders_at is not None:
            self._schedule_reminders()
        return list(range(len(self.incidents.actions(number))))

    def following(self, number: int) -> bool:
        return self.tracked.following(number)

    # ----- back from the trackers

    def github_webhook(self, body: bytes, headers: Mapping[str, str]) -> int:
        """A GitHub `issues` delivery (`headers` by lower-case name): 401 unsigned or wrongly signed, 404 for a
        repository or an issue that is not one of ours, 200 otherwise (a replay, or an action the bot does not
        follow, changes nothing)."""
        if not signed(body, self._secrets.get("GitHub"), headers.get("x-hub-signature-256", ""), "sha256"):
            return 401
        event = headers.get("x-github-event", "")
        if event == "ping":
            return 200
        payload = _payload(body)
        if payload is None:
            return 400
        if (payload.get("repository") or {}).get("full_name") != self.github_repository:
            return 404
        return self._delivered("GitHub", headers.get("x-github-delivery", ""), github.issue_change(event, payload))

    def jira_webhook(self, body: bytes, headers: Mapping[str, str]) -> int:
        """A Jira `jira:issue_updated` delivery: 401 unsigned or wrongly signed, 404 for an issue that is not one
        of ours, 200 otherwise."""
        if not signed(body, self._secrets.get("Jira"), headers.get("x-hub-signature", ""), "sha256"):
            return 401
        payload = _payload(body)
        if payload is None:
            return 400
        delivery = headers.get("x-atlassian-webhook-identifier", "")
        return self._delivered("Jira", delivery, jira.issue_change(payload))

    def _delivered(self, tracker: str, delivery: str, change: IssueChange | None) -> int:
        if change is None:
            return 200
        where = self.tracked.item_of(tracker, change.issue)
        if where is None:
            return 404
        if not delivery or not self.deliveries.first(tracker, delivery):
            return 200
        number, place = where
        current = self.tracked.get(number, tracker, place)
        if current is None:
            return 404
        now = self.clock.now()
        updated, said = apply(current, change, now)
        if not said:
            return 200  # what the bot knew already: its own creation and assignment come back this way
        self.tracked.save(number, place, updated)
        text = f"Action item {place + 1} ({tracker} {updated.label}): {', '.join(said)} in {tracker}"
        self.timeline.record(number, EntryKind.ACTION, text, at=change.at or now)
        event = ActionItemChanged(incident=number, at=now, item=place, tracker=tracker, done=updated.done)
        self.events.publish(event)
        mark = ":white_check_mark:" if updated.done else ":arrows_counterclockwise:"
        line = f"{mark} Action item {place + 1} (<{updated.url}|{tracker} {updated.label}>): {', '.join(said)}."
        self.scheduler.enqueue(
            JobName.TELL_ACTIONS, number, line, job_id=self.scheduler.job_id("actions", tracker, delivery)
        )
        self.scheduler.enqueue(
            JobName.REPUBLISH_POSTMORTEM, number, job_id=self.scheduler.job_id("republish", number, tracker, delivery)
        )
        return 200

    # ----- the daily digest

    def overdue(self) -> list[Overdue]:
        """Each exported incident with items past their due date and not done, and the next digest scheduled."""
        today = self.clock.now().astimezone(self.timezone).date()
        found = []
        for number in self.tracked.followed():
            incident = self.incidents.get(number)
            if incident is None:
                continue
            items = self._items(number)
            late = set(overdue([i.item for i in items], {i.place: list(i.issues) for i in items}, today))
            if late:
                found.append(Overdue(incident, tuple(i for i in items if i.place in late)))
        if self.reminders_at is not None:
            self._schedule_reminders()
        return found

    def _schedule_reminders(self) -> None:
        assert self.reminders_at is not None
        now = self.clock.now().astimezone(self.timezone)
        at = datetime.combine(now.date(), self.reminders_at, self.timezone)
        if at <= now:
            at += timedelta(days=1)
        self.scheduler.schedule(at, JobName.REMIND_ACTIONS, job_id=self.scheduler.job_id(REMINDER_JOB))

    # -----

    def _items(self, number: int) -> tuple[Item, ...]:
        issues = self.tracked.issues(number, self.trackers)
        refusals = {tracker: self.tracked.refusals(number, tracker) for tracker in self.trackers}
        return tuple(
            Item(
                place,
                item,
                tuple(issues.get(place, [])),
                tuple(f"{tracker}: {why[place]}" for tracker, why in refusals.items() if place in why),
            )
            for place, item in enumerate(self.incidents.actions(number))
        )

    def _owner(self, user: str | None, tracker: str) -> Owner:
        if user is None:
            return Owner(None)
        name, email = user, None
        try:
            name, email = self.workspace.person(user)
        except WorkspaceError:
            logger.warning("could not read %s's profile for the %s issue; the Slack id is used", user, tracker)
        return Owner(f"{name} (Slack {user})", login=self.github_users.get(user), email=email)

    def _refused(self, incident: Incident, tracker: str, place: int, why: str) -> Told | None:
        self.tracked.refused(incident.number, tracker, place, why)
        if not self.tracked.say_once(incident.number, tracker, why):
            return None
        self.timeline.record(incident.number, EntryKind.ACTION, f"{tracker} refused action item {place + 1}: {why}")
        return Told(
            incident.number,
            f":warning: {why}. The item stays unexported; fix the {tracker} settings (`incident-bot doctor`), then "
            "`/incident actions export`.",
        )


def _payload(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
