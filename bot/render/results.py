"""A step's result (`bot/core/views.py`) as a Slack message."""

from __future__ import annotations

from bot.core.views import Badge, Fixed, Line, Link, Note, Paragraph, ResultView, Rows, Span, Strong
from bot.render.blocks import Blocks, context, section
from bot.render.mrkdwn import code, escape
from bot.render.tables import table

TOPIC_ICONS = {"results": ":bar_chart:", "trend": ":bar_chart:", "status": ":satellite_antenna:"}
BADGES = {
    "good": ":large_green_circle:",
    "quiet": ":white_circle:",
    "warning": ":large_yellow_circle:",
    "bad": ":red_circle:",
    "unknown": ":grey_question:",
}


def result_message(view: ResultView) -> tuple[str, Blocks]:
    blocks: Blocks = []
    for index, part in enumerate(view.parts):
        if isinstance(part, Paragraph):
            text = "\n".join(_line(line) for line in part.lines)
            blocks.append(section(f"{TOPIC_ICONS[view.topic]} {text}" if index == 0 else text))
        elif isinstance(part, Rows):
            blocks.append(section(code(table(list(part.rows), part.limit))))
        elif isinstance(part, Fixed):
            blocks.append(section((f"*{escape(part.title)}*\n" if part.title else "") + code(part.text)))
        elif isinstance(part, Note):
            blocks.append(context(escape(part.text)))
    return view.summary, blocks


def _line(line: Line) -> str:
    return "".join(_span(span) for span in line)


def _span(span: Span) -> str:
    if isinstance(span, Badge):
        return BADGES[span.tone]
    if isinstance(span, Strong):
        return f"*{escape(span.text)}*"
    if isinstance(span, Link):
        return f"<{span.url}|{escape(span.text)}>"
    return escape(span)
