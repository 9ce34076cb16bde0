"""Where an incident can be opened from outside Slack (a pager's alert, a tracker's issue): its channel, through
Slack's redirect (which only the channel's members get through), and its page when the web view has an address."""

from __future__ import annotations

from bot.core.incident import Incident


def incident_links(incident: Incident, web_base_url: str | None) -> tuple[tuple[str, str], ...]:
    """(text, url) pairs: the Slack channel, the incident page."""
    links = []
    if incident.channel_id:
        links.append(
            ("Slack channel", f"https://slack.com/app_redirect?channel={incident.channel_id}&team={incident.team_id}")
        )
    if web_base_url:
        links.append(("Incident page", f"{web_base_url.rstrip('/')}/incidents/{incident.number}"))
    return tuple(links)
