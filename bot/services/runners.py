"""Action runners: the bot does a step's work for the responder.

`SalesforceRunner` runs query, Apex and publish steps against the org; `VendorStatusRunner` reads the
providers' status pages. Each runner first fetches (the slow, external part, which may start before the
incident channel exists) and then publishes what it found in the channel, returning a one-line summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.adapters.redis_store import WalkthroughStore
from bot.adapters.salesforce import SalesforceError, SalesforceGateway
from bot.adapters.scheduler import Scheduler, job_id
from bot.adapters.slack_api import SlackApi
from bot.adapters.soql import build_soql
from bot.adapters.status_pages import StatusPages
from bot.core.clock import Clock
from bot.core.error_rate import error_rate
from bot.core.incident import Incident
from bot.core.playbook import Presentation, Step, StepKind, render_apex, window_values
from bot.core.vendors import VendorReport
from bot.core.walkthrough import StepResult, state_key
from bot.render.blocks import section
from bot.render.mrkdwn import escape
from bot.render.results import csv_bytes, error_rate_text, result_message, summarize, vendor_message, vendor_summary
from bot.services.errors import StepFailed

RUNNING_USER = "$running_user_id"


@dataclass(frozen=True)
class Fetched:
    result: StepResult
    window: str


class SalesforceRunner:
    kinds = frozenset({StepKind.QUERY, StepKind.APEX, StepKind.PUBLISH})

    def __init__(
        self,
        gateway: SalesforceGateway,
        slack: SlackApi,
        steps: WalkthroughStore,
        scheduler: Scheduler,
        clock: Clock,
        key_prefix: str,
    ) -> None:
        self.gateway = gateway
        self.slack = slack
        self.steps = steps
        self.scheduler = scheduler
        self.clock = clock
        self.key_prefix = key_prefix

    def fetch(self, incident: Incident, step: Step, values: dict[str, object]) -> Fetched:
        now = self.clock.now()
        window = ""
        if "since" in values and "until" in values:
            since, until = values["since"], values["until"]
            assert isinstance(since, datetime) and isinstance(until, datetime)
            window = f"{since:%Y-%m-%d %H:%M} to {until:%H:%M} UTC"
        try:
            if step.kind is StepKind.QUERY:
                return Fetched(self._query(step, values, now), window)
            if step.kind is StepKind.APEX:
                apex = render_apex(step, values)
                self.gateway.execute_anonymous(apex)
                return Fetched(StepResult(at=now, statement=apex, rows=[], total=0), window)
            assert step.sobject and step.fields is not None
            fields = {k: self.gateway.user_id if v == RUNNING_USER else v for k, v in step.fields.items()}
            record_id = self.gateway.create(step.sobject, fields)
            return Fetched(
                StepResult(at=now, statement=f"{step.sobject} {fields}", rows=[{"id": record_id}], total=1), window
            )
        except SalesforceError as error:
            raise StepFailed(str(error)) from None

    def _query(self, step: Step, values: dict[str, object], now: datetime) -> StepResult:
        soql = build_soql(step, values)
        answer = self.gateway.query(soql, tooling=step.api == "tooling")
        rows, total = answer.records, answer.total_size
        if step.text_filter:
            wanted = step.text_filter.contains.lower()
            rows = [row for row in rows if wanted in str(row.get(step.text_filter.field) or "").lower()]
            total = len(rows)
        return StepResult(at=now, statement=soql, rows=rows[: step.row_limit], total=total)

    def publish(self, incident: Incident, scope: str, step: Step, fetched: Fetched) -> str:
        result = fetched.result
        self.steps.save_result(incident.number, state_key(scope, step.id), result)
        if step.kind is StepKind.APEX:
            return "The Apex compiled and ran."
        if step.kind is StepKind.PUBLISH:
            return f"Published {step.sobject} {result.rows[0]['id']} (Salesforce queued it: OPERATION_ENQUEUED)."
        assert incident.channel_id is not None
        text, blocks = result_message(step.title, result.rows, result.total, fetched.window)
        ts = self.slack.post(incident.channel_id, text, blocks)
        if result.rows:
            self.slack.upload(
                incident.channel_id,
                f"{incident.reference.lower()}-{step.id}.csv",
                csv_bytes(result.rows),
                f"{step.title} ({result.total} rows)",
                thread_ts=ts,
            )
        if step.present is Presentation.ERROR_RATE_CHART:
            self._post_error_rate(incident, step, result, ts)
            self.scheduler.enqueue(
                "bot.jobs.draw_error_rate_chart",
                self.key_prefix,
                incident.number,
                scope,
                step.id,
                ts,
                job_id=job_id(self.key_prefix, "chart", incident.number, scope, step.id, ts),
            )
        return summarize(result.rows, result.total)

    def _post_error_rate(self, incident: Incident, step: Step, result: StepResult, thread_ts: str) -> None:
        assert incident.channel_id is not None and step.window_hours
        points = error_rate(result.rows, *self._window(step, result))
        text = f"Error rate per hour, failed over total (the chart follows):\n```{escape(error_rate_text(points))}```"
        self.slack.post(incident.channel_id, "Error rate per hour", [section(text)], thread_ts=thread_ts)

    def _window(self, step: Step, result: StepResult) -> tuple[datetime, datetime]:
        bounds = window_values(step, result.at)
        return bounds["since"], bounds["until"]

    def publish_chart(self, incident: Incident, scope: str, step: Step, thread_ts: str) -> None:
        """Draws the error-rate PNG from the stored result and uploads it under the numbers."""
        from bot.adapters.charts import error_rate_png  # matplotlib: the worker's, never the web path's

        result = self.steps.result(incident.number, state_key(scope, step.id))
        if result is None or incident.channel_id is None:
            return
        since, until = self._window(step, result)
        png = error_rate_png(error_rate(result.rows, since, until), f"{incident.reference}: {step.title}")
        title = f"Error rate, {since:%Y-%m-%d %H:%M} to {until:%H:%M} UTC"
        self.slack.upload(
            incident.channel_id, f"{incident.reference.lower()}-error-rate.png", png, title, thread_ts=thread_ts
        )


class VendorStatusRunner:
    kinds = frozenset({StepKind.VENDOR_STATUS})

    def __init__(self, pages: StatusPages, slack: SlackApi, clock: Clock) -> None:
        self.pages = pages
        self.slack = slack
        self.clock = clock

    def fetch(self, incident: Incident, step: Step, values: dict[str, object]) -> list[VendorReport]:
        return self.pages.check_all(self.clock.now())

    def publish(self, incident: Incident, scope: str, step: Step, fetched: Any) -> str:
        assert incident.channel_id is not None
        self.slack.post(incident.channel_id, *vendor_message(fetched))
        return vendor_summary(fetched)
