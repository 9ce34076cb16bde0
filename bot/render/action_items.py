"""Block Kit for the action items: the list with each item's issues (`/incident actions`), its Export button,
and the daily digest of overdue items."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.core.tracking import ActionItems, Item, Overdue, Tracked
from bot.render.actions import ActionId, Ref
from bot.render.blocks import Blocks, button, context, section
from bot.render.mrkdwn import clock_time, escape, user

THREAD_PARENT = (
    "*Action items of {reference}*: their issues in {trackers}, and what changes there, follow in this thread."
)


def items_message(actions: ActionItems, timezone: ZoneInfo) -> tuple[str, Blocks]:
    incident = actions.incident
    if not actions.items:
        text = f"{incident.reference} has no action items yet: `/incident action TEXT @owner YYYY-MM-DD`."
        return text, [section(text)]
    blocks: Blocks = [section(f"*Action items of {incident.reference}*")]
    for item in actions.items:
        blocks.append(section(_line(item, timezone)))
    missing = [tracker for tracker in actions.trackers if any(not _in(item, tracker) for item in actions.items)]
    if missing:
        label = f"Export to {' and '.join(missing)}"
        export = button(label, ActionId.ACTIONS_EXPORT, Ref(incident=incident.number), "primary")
        blocks.append({"type": "actions", "block_id": "action-items", "elements": [export]})
    elif not actions.trackers:
        blocks.append(context("No tracker is set up (GITHUB_* or JIRA_* settings): the items live in the draft."))
    return f"Action items of {incident.reference}", blocks


def overdue_message(found: Overdue, timezone: ZoneInfo) -> tuple[str, Blocks]:
    reference = found.incident.reference
    lines = "\n".join(_line(item, timezone) for item in found.items)
    text = f":alarm_clock: Overdue action items of {reference}, still open:"
    return text, [section(f"{text}\n{lines}"), context("Said once a day until each is done (ACTION_ITEM_REMINDERS).")]


def _line(item: Item, timezone: ZoneInfo) -> str:
    parts = [f"*{item.place + 1}.* {escape(item.item.text)}"]
    parts.append(user(item.item.owner) if item.item.owner else "no owner")
    due = next((issue.due for issue in item.issues if issue.due), item.item.due)
    parts.append(f"due {due.isoformat()}" if due else "no due date")
    parts += [_issue(issue, timezone) for issue in item.issues]
    if not item.issues:
        parts.append("not exported yet")
    line = " · ".join(parts)
    for refusal in item.refused:
        line += f"\n:warning: {escape(refusal)}"
    return line


def _issue(issue: Tracked, timezone: ZoneInfo) -> str:
    link = f"<{issue.url}|{issue.tracker} {issue.label}>"
    if issue.done:
        when = f" {clock_time(issue.changed_at, timezone)}" if issue.changed_at else ""
        by = f" by {escape(issue.changed_by)}" if issue.changed_by else ""
        return f"{link} :white_check_mark: done{when}{by}"
    return f"{link} open" + (f", {escape(issue.assignee)}" if issue.assignee else "")


def _in(item: Item, tracker: str) -> bool:
    return any(issue.tracker == tracker for issue in item.issues)
