"""Block Kit messages: the incident header, incident lists and the command help."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.commands import USAGE
from bot.core.incident import Incident
from bot.core.paging import PageState
from bot.core.response import Countdown, countdown
from bot.core.severity import Severity, SeverityLevel
from bot.render.actions import ActionId, Ref, SeverityRef, element_action, encode
from bot.render.mrkdwn import channel, clock_time, duration, escape, plain, user

Blocks = list[dict[str, Any]]
MESSAGE_BLOCK_LIMIT = 50
SECTION_TEXT_LIMIT = 3000


def button(
    text: str,
    action: ActionId,
    value: Ref,
    style: str | None = None,
    url: str | None = None,
    suffix: str = "",
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": plain(text, 75)},
        "action_id": element_action(action, suffix),
        "value": encode(action, value),
    }
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    return element


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": plain(text, SECTION_TEXT_LIMIT)}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": plain(text, SECTION_TEXT_LIMIT)}]}


def header_text(incident: Incident) -> str:
    return f"{incident.reference} · {incident.severity.label} · {incident.title}"


COUNTDOWN_ICONS = {
    Countdown.ON_TIME: ":large_green_circle:",
    Countdown.DUE_SOON: ":large_orange_circle:",
    Countdown.MISSED: ":red_circle:",
    Countdown.ACKNOWLEDGED: ":white_check_mark:",
    Countdown.ACKNOWLEDGED_LATE: ":white_check_mark:",
}


def incident_header(
    incident: Incident,
    level: SeverityLevel,
    deadline: datetime,
    timezone: ZoneInfo,
    now: datetime,
    pages: Mapping[str, PageState] | None = None,
) -> tuple[str, Blocks]:
    """The pinned message at the top of an incident channel: what, how bad, how fast, who, who was paged, and
    where it is."""
    state = countdown(incident, deadline, now) if incident.is_open or incident.acknowledged_at else None
    target = f"*Response target*\n{escape(level.response_target.describe())}, due {clock_time(deadline, timezone)}"
    if state is not None:
        target += f"\n{COUNTDOWN_ICONS[state]} {state.value}"
        if incident.acknowledged_at and incident.acknowledged_by:
            target += f" by {user(incident.acknowledged_by)} at {incident.acknowledged_at.astimezone(timezone):%H:%M}"
    roles = f"*Commander*\n{user(incident.commander)}"
    for label, holder in (("Comms", incident.communications), ("Scribe", incident.scribe)):
        if holder:
            roles += f"\n{label}: {user(holder)}"
    fields = [
        f"*Severity*\n{incident.severity.label}: {escape(level.definition)}",
        target,
        roles,
        f"*Status*\n{incident.status.value.capitalize()}",
        f"*Declared*\n{clock_time(incident.declared_at, timezone)} by {user(incident.declared_by)}",
    ]
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(header_text(incident), 150)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": text} for text in fields]},
    ]
    if incident.summary:
        blocks.append(section(f"*Summary*\n{escape(incident.summary)}"))
    notes = [note for flag, note in _FLAG_NOTES if getattr(incident, flag)]
    notes += [_paged(pager, state, timezone) for pager, state in (pages or {}).items() if state.triggered_at]
    if notes:
        blocks.append(context(" · ".join(notes)))
    if incident.is_open:
        blocks.append({"type": "actions", "block_id": "header", "elements": _header_controls(incident)})
    return f"{escape(header_text(incident))} ({incident.status.value})", blocks


def _paged(pager: str, state: PageState, timezone: ZoneInfo) -> str:
    """`:pager: Paged through PagerDuty at 14:02, acknowledged 14:05`."""
    moments = [("at", state.triggered_at), ("acknowledged", state.acknowledged_at), ("resolved", state.resolved_at)]
    said = ", ".join(f"{word} {moment.astimezone(timezone):%H:%M}" for word, moment in moments if moment)
    return f":pager: Paged through {pager} {said}"


def _header_controls(incident: Incident) -> list[dict[str, Any]]:
    controls: list[dict[str, Any]] = []
    if incident.acknowledged_at is None:
        controls.append(button("Acknowledge", ActionId.INCIDENT_ACK, Ref(incident=incident.number), "primary"))
    options = [
        {
            "text": {"type": "plain_text", "text": severity.label},
            "value": encode(ActionId.INCIDENT_SEVERITY, SeverityRef(incident=incident.number, severity=severity.value)),
        }
        for severity in Severity
    ]
    controls.append(
        {
            "type": "static_select",
            "action_id": element_action(ActionId.INCIDENT_SEVERITY, "menu"),
            "placeholder": {"type": "plain_text", "text": "Change severity"},
            "options": options,
            "initial_option": options[incident.severity.value - 1],
        }
    )
    return controls


_FLAG_NOTES = (
    ("drill", ":test_tube: Drill: approvals work, but executions are dry runs"),
    ("private", ":lock: Private (security) incident"),
    ("llm_related", ":robot_face: LLM / provider related"),
    ("exfiltration_suspected", ":warning: Data exfiltration suspected"),
)


def incident_line(incident: Incident, now: datetime) -> str:
    where = channel(incident.channel_id) if incident.channel_id else "(no channel)"
    return (
        f"*{incident.severity.label}* {where} {escape(incident.title)} "
        f"· {incident.status.value} · open {duration(now - incident.declared_at)}"
    )


def incident_list(incidents: list[Incident], now: datetime, limit: int = MESSAGE_BLOCK_LIMIT - 2) -> Blocks:
    if not incidents:
        return [section(":white_check_mark: No open incidents.")]
    ordered = sorted(incidents, key=lambda incident: (incident.severity, incident.declared_at))
    blocks = [section(f"*Open incidents ({len(incidents)})*")]
    blocks += [section(incident_line(incident, now)) for incident in ordered[:limit]]
    if len(ordered) > limit:
        blocks.append(context(f"… and {len(ordered) - limit} more."))
    return blocks


def help_blocks(unknown: str | None = None) -> tuple[str, Blocks]:
    lines = [f"`{usage.usage}`: {usage.what}" for usage in USAGE]
    intro = f"I don't know `{escape(unknown)}`. " if unknown else ""
    text = f"{intro}Here is what `/incident` can do:"
    return text, [section(text), section("\n".join(lines))]
