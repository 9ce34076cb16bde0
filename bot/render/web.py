"""The web view's HTML: jinja2 templates (autoescaped) over the services' views, charts drawn on the server as
inline SVG, the CSV of insights, and the post-mortem's Markdown as HTML (HTML written in it is shown, not run)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from bot.core.commands import MENTION
from bot.core.insights import Spread, WeekRow
from bot.core.severity import Severity
from bot.core.timeline import EntryKind, TimelineEntry

SLACK_CHANNEL_LINK = "https://slack.com/app_redirect"
STATIC = Path(__file__).parent / "static"  # the stylesheet and the live-update script
CSV_COLUMNS = (
    "week",
    "severity",
    "incidents",
    "acknowledge_median_min",
    "acknowledge_p90_min",
    "mitigate_median_min",
    "mitigate_p90_min",
    "resolve_median_min",
    "resolve_p90_min",
    "targets_missed",
    "playbooks_run",
    "kill_switches_executed",
)
CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 720, 240, 40
CHART_WEEKS = 12

_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def span(value: timedelta | None) -> str:
    """A duration as people read it: `42m`, `3h 05m`, `2d 4h`; an en dash when it has not happened."""
    if value is None:
        return "–"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def minutes(value: timedelta | None) -> str:
    return "" if value is None else f"{value.total_seconds() / 60:.1f}"


class WebRenderer:
    def __init__(self, timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self.env = Environment(
            loader=PackageLoader("bot.render", "templates"), autoescape=True, undefined=StrictUndefined
        )
        self.env.filters.update(when=self.when, span=span, markdown=self.markdown)
        self.env.globals.update(slack_channel_link=SLACK_CHANNEL_LINK, timezone=timezone.key)

    def page(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def when(self, moment: datetime | None) -> str:
        return "–" if moment is None else f"{moment.astimezone(self.timezone):%Y-%m-%d %H:%M}"

    @staticmethod
    def markdown(text: str) -> Markup:
        """Markdown as HTML, its headings two levels down: it sits under the page's own h1 and a section's h2."""
        html = _markdown.render(text)  # markdown-it escapes the text ("html" is off)
        html = re.sub(r"<(/?)h([1-4])>", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}>", html)
        return Markup(html)  # noqa: S704

    @staticmethod
    def with_names(text: str, names: dict[str, str]) -> Markup:
        """Slack text with its mentions (`<@U…>`) as the names people know; everything else escaped."""
        parts = MENTION.split(text)
        out = [
            escape(part) if index % 2 == 0 else escape("@" + names.get(part, part)) for index, part in enumerate(parts)
        ]
        return Markup("").join(out)

    def timeline(self, entries: Iterable[TimelineEntry], names: dict[str, str]) -> Markup:
        """The timeline's rows, built here rather than in the template: an incident may hold ten thousand."""
        rows = []
        for entry in entries:
            who = escape(names.get(entry.actor, entry.actor) if entry.actor else "–")
            pinned = '<span class="mark">pinned</span> ' if entry.kind is EntryKind.MESSAGE else ""
            link = f' <a href="{escape(entry.permalink)}">in Slack</a>' if entry.permalink else ""
            rows.append(
                f'<tr class="{entry.kind.value}"><td>{self.when(entry.at)}</td><td>{who}</td>'
                f"<td>{pinned}{self.with_names(entry.text, names)}{link}</td></tr>"
            )
        return Markup("\n".join(rows))  # noqa: S704 (every value above is escaped)

    # ----- insights

    def charts(self, rows: Sequence[WeekRow]) -> list[tuple[str, Markup]]:
        """The last twelve weeks' incidents, and their median times to acknowledge and to resolve."""
        weeks = sorted({row.week for row in rows})[-CHART_WEEKS:]
        drawn = [
            ("Incidents per week", "incidents", lambda row: float(row.incidents)),
            ("Median time to acknowledge, minutes", "minutes", lambda row: _median(row.to_acknowledge)),
            ("Median time to resolve, minutes", "minutes", lambda row: _median(row.to_resolve)),
        ]
        return [(title, self.chart(title, unit, weeks, rows, value)) for title, unit, value in drawn]

    @staticmethod
    def chart(title: str, unit: str, weeks: list[date], rows: Iterable[WeekRow], value: Any) -> Markup:
        """A grouped bar chart, a group per week and a bar per severity, as inline SVG with a title and a text
        alternative (the table under the charts holds every number)."""
        values = {(row.week, row.severity): value(row) for row in rows}
        top = max([v for v in values.values() if v is not None] + [1.0])
        plot_w, plot_h = CHART_WIDTH - 2 * CHART_MARGIN, CHART_HEIGHT - 2 * CHART_MARGIN
        group = plot_w / max(1, len(weeks))
        bar = group / (len(Severity) + 1)
        slug = "".join(c if c.isalnum() else "-" for c in title.lower())
        out = [
            f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" aria-labelledby="{slug}">',
            f'<title id="{slug}">{escape(title)}</title>',
            f'<line class="axis" x1="{CHART_MARGIN}" y1="{CHART_HEIGHT - CHART_MARGIN}" '
            f'x2="{CHART_WIDTH - CHART_MARGIN}" y2="{CHART_HEIGHT - CHART_MARGIN}"/>',
            f'<text class="label" x="{CHART_MARGIN - 6}" y="{CHART_MARGIN + 4}" text-anchor="end">{top:.0f}</text>',
            f'<text class="label" x="{CHART_MARGIN - 6}" y="{CHART_HEIGHT - CHART_MARGIN}" text-anchor="end">0</text>',
        ]
        if not values or all(v is None for v in values.values()):
            out.append(
                f'<text class="label" x="{CHART_WIDTH / 2}" y="{CHART_HEIGHT / 2}" text-anchor="middle">'
                "No incident has reached this yet</text>"
            )
        for index, week in enumerate(weeks):
            x0 = CHART_MARGIN + index * group
            for place, severity in enumerate(Severity):
                found = values.get((week, severity))
                if found is None:
                    continue
                height = plot_h * found / top
                y = CHART_HEIGHT - CHART_MARGIN - height
                out.append(
                    f'<rect class="sev{severity.value}" x="{x0 + (place + 0.5) * bar:.1f}" y="{y:.1f}" '
                    f'width="{bar * 0.9:.1f}" height="{height:.1f}"><title>{week:%Y-%m-%d} {severity.label}: '
                    f"{found:.0f} {escape(unit)}</title></rect>"
                )
            out.append(
                f'<text class="label" x="{x0 + group / 2:.1f}" y="{CHART_HEIGHT - CHART_MARGIN + 16}" '
                f'text-anchor="middle">{week:%m-%d}</text>'
            )
        for place, severity in enumerate(Severity):
            x = CHART_MARGIN + place * 80
            out.append(f'<rect class="sev{severity.value}" x="{x}" y="{CHART_HEIGHT - 14}" width="10" height="10"/>')
            out.append(f'<text class="label" x="{x + 14}" y="{CHART_HEIGHT - 5}">{severity.label}</text>')
        out.append("</svg>")
        return Markup("".join(out))  # noqa: S704 (built from numbers and escaped text above)

    @staticmethod
    def csv(rows: Iterable[WeekRow]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row.week.isoformat(),
                    row.severity.label,
                    row.incidents,
                    minutes(row.to_acknowledge.median),
                    minutes(row.to_acknowledge.p90),
                    minutes(row.to_mitigate.median),
                    minutes(row.to_mitigate.p90),
                    minutes(row.to_resolve.median),
                    minutes(row.to_resolve.p90),
                    row.targets_missed,
                    row.playbooks_run,
                    row.switches_executed,
                ]
            )
        return buffer.getvalue()


def _median(spread: Spread) -> float | None:
    return None if spread.median is None else spread.median.total_seconds() / 60
