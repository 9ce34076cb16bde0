"""Background jobs the worker runs. Each job names its key prefix and runs with that deployment's services."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import Services

_SERVICES: dict[str, Services] = {}


def register(services: Services) -> None:
    """Makes `services` the ones jobs of its key prefix run with (the worker at start; tests for their bot)."""
    _SERVICES[services.settings.key_prefix] = services


def services_for(prefix: str) -> Services:
    try:
        return _SERVICES[prefix]
    except KeyError:
        raise LookupError(f"no services registered for key prefix {prefix!r}; is the worker configured?") from None


def draw_error_rate_chart(prefix: str, number: int, scope: str, step_id: str, thread_ts: str) -> None:
    """Draws the confirm-scope trend as a PNG and uploads it under the numbers (off the web request path)."""
    services = services_for(prefix)
    incident = services.incidents.store.get(number)
    step = services.runbook.step(scope, step_id)
    if incident is None or step is None or services.salesforce_runner is None:
        raise LookupError(f"nothing to chart for incident {number} {scope}/{step_id}")
    services.salesforce_runner.publish_chart(incident, scope, step, thread_ts)


def execute_approval(prefix: str, approval_id: str) -> None:
    """Runs an approved kill switch or destructive step, once, then verifies it against the org."""
    services_for(prefix).killswitches.execute(approval_id)


def expire_approval(prefix: str, approval_id: str) -> None:
    """Marks a request that nobody approved in time as expired, and its card with it."""
    services_for(prefix).killswitches.expire(approval_id)


def response_timer(prefix: str, number: int, kind: str) -> None:
    """A response timer came due (due soon, escalation, update reminder); it re-reads the incident first."""
    services_for(prefix).response.fire(number, kind)
