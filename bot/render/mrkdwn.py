"""Slack mrkdwn helpers: escaping people's text, mentions, times and durations."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def escape(text: str) -> str:
    """Makes user text inert: no `<!channel>`, `<@U…>` mentions or `<url|label>` links it did not mean."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """A code block that text cannot break out of: escaped, and its backticks (which would close the block,
    as Slack has no escape for them) shown as a look-alike."""
    return "```" + escape(text).replace("`", "\u02cb") + "```"


def user(user_id: str) -> str:
    return f"<@{user_id}>"


def channel(channel_id: str) -> str:
    return f"<#{channel_id}>"


def clock_time(moment: datetime, timezone: ZoneInfo) -> str:
    return moment.astimezone(timezone).strftime("%Y-%m-%d %H:%M %Z")


def duration(span: timedelta) -> str:
    """`3d 4h`, `2h 5m`, `7m`: the two largest units, never negative."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def plain(text: str, limit: int) -> str:
    """Cuts text to a Block Kit length limit, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
