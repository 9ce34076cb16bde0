"""The App Home tab: the open incidents a person may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.incident import Incident
from bot.render.blocks import context, incident_list

VIEW_BLOCK_LIMIT = 100


def home_view(incidents: list[Incident], now: datetime) -> dict[str, Any]:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "FlowMason incidents"}},
        *incident_list(incidents, now, limit=VIEW_BLOCK_LIMIT - 4),
        context("Declare one with `/incident declare`; `/incident help` lists every command."),
    ]
    return {"type": "home", "blocks": blocks}
