"""The timeline in the channel, a page at a time."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.core.incident import Incident
from bot.core.timeline import TimelineEntry
from bot.render.actions import ActionId, PageRef
from bot.render.blocks import Blocks, button, context, section
from bot.render.mrkdwn import escape, plain, user

PER_PAGE = 15


def pages(entries: list[TimelineEntry]) -> int:
    return max(1, -(-len(entries) // PER_PAGE))


def timeline_message(
    incident: Incident, entries: list[TimelineEntry], page: int, timezone: ZoneInfo
) -> tuple[str, Blocks]:
    count = pages(entries)
    page = min(max(page, 1), count)
    shown = entries[(page - 1) * PER_PAGE : page * PER_PAGE]
    lines = []
    for entry in shown:
        who = f" {user(entry.actor)}" if entry.actor else ""
        link = f" (<{entry.permalink}|message>)" if entry.permalink else ""
        lines.append(
            f"`{entry.at.astimezone(timezone):%H:%M}` _{entry.kind.value}_{who}: {escape(plain(entry.text, 140))}{link}"
        )
    title = f":spiral_note_pad: *Timeline of {incident.reference}* (page {page} of {count}, times in {timezone})"
    blocks: Blocks = [section(title)]
    blocks.append(section("\n".join(lines) if lines else "Nothing recorded yet."))
    elements = []
    if page > 1:
        elements.append(button("← Earlier", ActionId.TIMELINE_PAGE, PageRef(incident=incident.number, page=page - 1)))
    if page < count:
        elements.append(button("Later →", ActionId.TIMELINE_PAGE, PageRef(incident=incident.number, page=page + 1)))
    if elements:
        blocks.append({"type": "actions", "block_id": "timeline", "elements": elements})
    blocks.append(
        context(f"{len(entries)} entries. Add one with `/incident note TEXT`, or react :pushpin: to a message.")
    )
    return f"Timeline of {incident.reference}, page {page} of {count}", blocks
