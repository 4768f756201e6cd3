"""A map of a run's texts: one point per text where its vector fell on the plane, coloured by its
label (the true one when the data has labels, else the predicted one), misclassified texts
marked. A PNG, and an HTML page (one SVG, no script from elsewhere) where hovering a point shows
its text, true and predicted label."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

WIDTH, HEIGHT, MARGIN = 760, 560, 20  # the SVG's drawing area, in pixels
SHOWN_CHARACTERS = 600  # of a text, in its tooltip


@dataclass(frozen=True)
class MapPoints:
    """What a map draws: a point per text, its label and prediction, the label set."""

    points: np.ndarray  # (texts, 2)
    texts: list[str]
    predicted: list[str]
    true: list[str] | None  # None for unlabelled texts
    labels: list[str]  # every label of the run, in its order (it fixes the colours)
    method: str  # umap or pca

    def shown(self) -> list[str]:
        """The label that colours each point."""
        return self.true if self.true is not None else self.predicted

    def wrong(self) -> np.ndarray:
        """True where the prediction is not the true label (all False without labels)."""
        if self.true is None:
            return np.zeros(len(self.texts), dtype=bool)
        return np.array([t != p for t, p in zip(self.true, self.predicted, strict=True)])


def label_colours(labels: Sequence[str]) -> dict[str, str]:
    """A colour per label, the same in the PNG and the page."""
    palette = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: to_hex(palette(number % palette.N)) for number, label in enumerate(labels)}


def plot_map(data: MapPoints, path: Path, title: str) -> None:
    """The PNG: points by label, misclassified ones crossed in black."""
    colours, shown, wrong = label_colours(data.labels), data.shown(), data.wrong()
    figure = Figure(figsize=(8, 6.5))
    axes = figure.subplots()
    for label in data.labels:
        mine = np.array([value == label for value in shown])
        if mine.any():
            x, y = data.points[mine].T
            axes.scatter(x, y, s=12, color=colours[label], label=label, alpha=0.75)
    if wrong.any():
        x, y = data.points[wrong].T
        axes.scatter(x, y, s=30, marker="x", color="black", label=f"misclassified ({int(wrong.sum())})")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=7, loc="best", markerscale=1.5)
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    os.replace(temporary, path)


def scaled(points: np.ndarray) -> np.ndarray:
    """Points fitted into the SVG's drawing area (y grows downwards there)."""
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    unit = (points - low) / np.where(span > 0, span, 1.0)
    return np.column_stack(
        [MARGIN + unit[:, 0] * (WIDTH - 2 * MARGIN), HEIGHT - MARGIN - unit[:, 1] * (HEIGHT - 2 * MARGIN)]
    )


def point_svg(x: float, y: float, text: str, true: str | None, predicted: str, colour: str) -> str:
    """One point: its tooltip holds the text, the true and the predicted label."""
    short = text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"
    verdict = f"true: {true} · predicted: {predicted}" if true is not None else f"predicted: {predicted}"
    wrong = true is not None and true != predicted
    edge = ' stroke="#000" stroke-width="2"' if wrong else ""
    tooltip = f"<title>{html.escape(verdict)}\n{html.escape(short)}</title>"
    kind, radius = ("wrong", 5) if wrong else ("right", 4)
    place = f'cx="{x:.1f}" cy="{y:.1f}" r="{radius}"'
    return f'<circle {place} fill="{colour}"{edge} class="{kind}">{tooltip}</circle>'


def map_html(data: MapPoints, title: str, png_name: str) -> str:
    """The page: the SVG map, its legend and a link to the PNG."""
    colours, shown = label_colours(data.labels), data.shown()
    true = data.true if data.true is not None else [None] * len(data.texts)
    circles = "\n".join(
        point_svg(x, y, text, truth, predicted, colours[label])
        for (x, y), text, truth, predicted, label in zip(
            scaled(data.points), data.texts, true, data.predicted, shown, strict=True
        )
    )
    counts = {label: shown.count(label) for label in data.labels}
    legend = "".join(
        f'<li><span style="background: {colours[label]}"></span>{html.escape(label)} ({counts[label]})</li>'
        for label in data.labels
        if counts[label]
    )
    if data.true is not None:
        legend += f'<li><span class="ring"></span>misclassified ({int(data.wrong().sum())})</li>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>headstart map</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem; color: #111; }}
svg {{ border: 1px solid #ddd; background: #fff; }} circle:hover {{ stroke: #000; stroke-width: 3; }}
ul {{ list-style: none; padding: 0; }} li span {{ display: inline-block; width: .8rem; height: .8rem;
  border-radius: 50%; margin-right: .4rem; }} .ring {{ border: 2px solid #000; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Each point is a text where the run's head reads it, laid out by {data.method.upper()};
hover over a point for its text and labels. <a href="{html.escape(png_name)}">PNG</a></p>
<ul id="legend">{legend}</ul>
<svg id="map" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img">
{circles}
</svg>
</body></html>
"""
