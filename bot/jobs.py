"""The background jobs, in one place: each one's name, what it does with the services, and the RQ job class that
runs them in the worker (no global registry: `job_class` is built from the services it may call).

Each job that changes what people see in Slack is separate from the work that decided it, so a Slack failure or
a rate limit is retried on its own and never repeats the work. A job sends its message updates before it ends
(`CoalescedUpdates.inline()`): a failure fails the job, which runs again.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rq.job import Job

from bot.adapters.redis_store.updates import CoalescedUpdates

if TYPE_CHECKING:
    from bot.app import Services


class JobName(StrEnum):
    EXECUTE_REQUEST = "execute_request"  # an approved change: its execution, in the executions queue
    WATCH_REQUEST = "watch_request"  # a guided change: read the org again
    SHOW_REQUEST = "show_request"  # a request's cards, step and header, after its execution moved
    EXPIRE_REQUEST = "expire_request"
    DRAW_CHART = "draw_chart"
    RESPONSE_TIMER = "response_timer"
    DELIVER_EVENT = "deliver_event"  # one event to one subscriber
    SHOW_INCIDENT = "show_incident"  # the header, after something outside Slack changed what it shows
    TELL_CHANNEL = "tell_channel"  # one message in the incident's channel, from a subscriber other than Slack
    TELL_ACTIONS = "tell_actions"  # one line in the incident's action-items thread
    REPUBLISH_POSTMORTEM = "republish_postmortem"  # the draft again, where one was written, after its items changed
    REMIND_ACTIONS = "remind_actions"  # the daily digest of overdue action items
    SAMPLE_PROBES = "sample_probes"  # what growth probes compare with: their counts, every SAMPLE_MINUTES


def execute_request(services: Services, approval_id: str) -> None:
    try:
        services.execution.execute(approval_id)
    finally:
        scheduler = services.scheduler
        version = services.approvals.approvals.version(approval_id)
        scheduler.enqueue(JobName.SHOW_REQUEST, approval_id, job_id=scheduler.job_id("show", approval_id, version))


def show_request(services: Services, approval_id: str) -> None:
    """After an execution step: the request's cards, its step's message and the header, from Redis."""
    found = services.approvals.approvals.get(approval_id)
    if found is None:
        return
    services.present.approvals.refresh(approval_id)
    incident = services.incidents.find(found[0].incident)
    if incident is not None:
        services.present.walkthrough.refresh_all(incident)
        services.present.incidents.refresh_header(incident)


def expire_request(services: Services, approval_id: str) -> None:
    if services.approvals.expire(approval_id) is not None:
        services.present.approvals.refresh(approval_id)


def draw_chart(services: Services, number: int, scope: str, step_id: str, thread_ts: str) -> None:
    services.present.walkthrough.chart(number, scope, step_id, thread_ts)


def response_timer(services: Services, number: int, kind: str) -> None:
    services.present.response.timer(services.response.fire(number, kind))


def deliver_event(services: Services, subscriber: str, event_json: str) -> None:
    services.events.deliver(subscriber, event_json)


def show_incident(services: Services, number: int) -> None:
    incident = services.incidents.find(number)
    if incident is not None:
        services.present.incidents.refresh_header(incident)


def tell_channel(services: Services, number: int, text: str) -> None:
    incident = services.incidents.find(number)
    if incident is not None:
        services.present.incidents.tell(incident, text)


def tell_actions(services: Services, number: int, text: str) -> None:
    incident = services.incidents.find(number)
    if incident is not None:
        services.present.action_items.tell(incident, text)


def republish_postmortem(services: Services, number: int) -> None:
    services.lifecycle.republish_postmortem(number, services.present.lifecycle)


def remind_actions(services: Services) -> None:
    services.present.action_items.overdue(services.tracking.overdue())


def sample_probes(services: Services) -> None:
    services.evidence.sample()


JOBS: dict[str, Callable[..., None]] = {
    JobName.EXECUTE_REQUEST: execute_request,
    JobName.WATCH_REQUEST: execute_request,
    JobName.SHOW_REQUEST: show_request,
    JobName.EXPIRE_REQUEST: expire_request,
    JobName.DRAW_CHART: draw_chart,
    JobName.RESPONSE_TIMER: response_timer,
    JobName.DELIVER_EVENT: deliver_event,
    JobName.SHOW_INCIDENT: show_incident,
    JobName.TELL_CHANNEL: tell_channel,
    JobName.TELL_ACTIONS: tell_actions,
    JobName.REPUBLISH_POSTMORTEM: republish_postmortem,
    JobName.REMIND_ACTIONS: remind_actions,
    JobName.SAMPLE_PROBES: sample_probes,
}


def job_class(services: Services) -> type[Job]:
    """An RQ Job that runs a job by its name with `services`, instead of importing a function by its path."""

    class ServiceJob(Job):
        def _execute(self) -> Any:
            run = JOBS.get(self.func_name or "")
            if run is None:
                raise LookupError(f"no job named {self.func_name!r}; is the worker the same version as the bot?")
            with CoalescedUpdates.inline():
                return run(services, *self.args, **self.kwargs)

    return ServiceJob
