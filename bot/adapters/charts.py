"""Draws the error-rate trend as a PNG (matplotlib, headless); only the worker imports it."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot

from bot.core.error_rate import HourPoint


def error_rate_png(points: list[HourPoint], title: str) -> bytes:
    figure, axis = pyplot.subplots(figsize=(8, 3.2), dpi=100)
    try:
        hours = [f"{p.start:%H:00}" for p in points]
        axis.bar(hours, [p.rate * 100 for p in points], color="#c0392b")
        axis.set_ylabel("failed / total (%)")
        axis.set_xlabel("hour (UTC)")
        axis.set_title(title)
        axis.set_ylim(0, max([5.0, *(p.rate * 110 for p in points)]))
        for index, point in enumerate(points):
            axis.annotate(
                f"{point.failed}/{point.total}", (index, point.rate * 100), ha="center", va="bottom", fontsize=8
            )
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)
