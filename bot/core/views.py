"""What a step's result shows, as data: lines with emphasis and links, the first rows as a table, fixed-width text,
a note. A renderer decides how: Block Kit for Slack (`bot/render/results.py`), HTML for a web page. Nothing here
knows either."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TABLE_ROWS = 20  # rows a table shows; the rest are in the CSV


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Badge:
    """A state at a glance: good, quiet, warning, bad or unknown."""

    tone: str


Span = str | Strong | Link | Badge
Line = tuple[Span, ...]


@dataclass(frozen=True)
class Paragraph:
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Rows:
    """The first `limit` rows of a result, as a table."""

    rows: Sequence[Mapping[str, Any]]
    limit: int = TABLE_ROWS


@dataclass(frozen=True)
class Fixed:
    """Text whose columns line up (a trend table), under its title."""

    text: str
    title: str = ""


@dataclass(frozen=True)
class Note:
    """A remark under the result."""

    text: str


Part = Paragraph | Rows | Fixed | Note


@dataclass(frozen=True)
class ResultView:
    """A result: one line that says it all (`summary`, for notifications), what it is about (`topic`: results,
    trend or status), and its parts in order."""

    summary: str
    topic: str
    parts: tuple[Part, ...]


def columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every column of the rows, in the order they first appear."""
    names: list[str] = []
    for row in rows:
        names += [name for name in row if name not in names]
    return names
