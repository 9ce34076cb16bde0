"""Draws an error-rate trend as a PNG (matplotlib, headless): one line per series and the dashed line to compare
them with. Only the worker imports it."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot

from bot.kinds.base import Chart

COLOURS = ("#c0392b", "#2c3e50", "#8e44ad", "#16a085")


def error_rate_png(chart: Chart) -> bytes:
    figure, axis = pyplot.subplots(figsize=(8, 3.2), dpi=100)
    try:
        top = 5.0
        for colour, (label, points) in zip(COLOURS, chart.series.items(), strict=False):
            hours = [f"{p.start:%H:00}" for p in points]
            rates = [p.rate * 100 if p.total else math.nan for p in points]  # an hour with nothing is no point
            axis.plot(hours, rates, marker="o", color=colour, label=label)
            for hour, rate, point in zip(hours, rates, points, strict=True):
                if point.total:
                    axis.annotate(f"{point.failed}/{point.total}", (hour, rate), ha="center", va="bottom", fontsize=7)
                    top = max(top, rate * 1.15)
        if chart.threshold_percent:
            axis.axhline(chart.threshold_percent, color="#7f8c8d", linestyle="--", linewidth=1)
            label = chart.threshold_label or f"{chart.threshold_percent:g}%"
            axis.annotate(label, (0, chart.threshold_percent), va="bottom", fontsize=8)
            top = max(top, chart.threshold_percent * 1.3)
        axis.set_ylabel("failed / total (%)")
        axis.set_xlabel("hour (UTC)")
        axis.set_title(chart.png_title)
        axis.set_ylim(0, top)
        axis.legend(loc="upper left", fontsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)
