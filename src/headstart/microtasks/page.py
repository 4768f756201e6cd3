"""The project page: one self-contained HTML file (plots as inline PNG, the rules as inline SVG)
with progress by step, agreement, annotator quality and cost. Annotators appear by the first 8
characters of their pseudonym; no text of any item is on the page."""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

from matplotlib.figure import Figure

from headstart.microtasks.project import ProjectSpec, Step

STATES = {"settled": "#2f7d32", "open": "#9e9e9e", "rejected": "#c62828"}
BOX_WIDTH, BOX_HEIGHT, GAP = 190, 64, 70


def project_page(found: dict[str, Any], spec: ProjectSpec) -> str:
    """The page for a project's `progress` figures."""
    cost = found["answers_per_settled_item"]
    seconds = found["seconds_per_settled_item"]
    headline = (
        f"{found['settled_final']} items settled in the last steps; {found['answers']} answers "
        f"({found['answers_refused']} refused)"
        + (f"; {cost} answers and {seconds} s of work per settled item." if cost else ".")
    )
    quality = [row for row in found["annotators"] if row["gold_accuracy"] is not None]
    paused = sum(row["paused"] for row in found["annotators"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(spec.name)}: tasks</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{padding:.2rem .7rem;border-bottom:1px solid #ddd;text-align:right}}
th:first-child,td:first-child{{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>Project {escape(spec.name)}</h1>
<p>{escape(headline)}</p>
<h2>Rules</h2>
{rules_graph(spec)}
<h2>Progress and cost by step</h2>
{_steps_table(found)}
<img alt="items by step and state" src="{_png(_progress_plot(found))}">
<h2>Agreement</h2>
<p>How sure the settled items are: Dawid–Skene's posterior for label steps, the majority's share
for validate and tag, one minus the spread for rate.</p>
<img alt="settled items by confidence" src="{_png(_agreement_plot(found))}">
<h2>Annotators</h2>
<p>{len(found["annotators"])} annotators, {len(quality)} scored on gold items, {paused} paused.</p>
<img alt="annotators' accuracy on gold items" src="{_png(_quality_plot(quality))}">
</body></html>
"""


def _steps_table(found: dict[str, Any]) -> str:
    head = "<tr><th>step</th><th>kind</th><th>open</th><th>settled</th><th>rejected</th>"
    head += "<th>answers</th><th>seconds</th><th>answers per settled</th><th>mean confidence</th>"
    head += "<th>gold answers</th></tr>"
    rows = []
    for name, step in found["steps"].items():
        per = round(step["answers"] / step["settled"], 2) if step["settled"] else "–"
        confidence = "–" if step["mean_confidence"] is None else step["mean_confidence"]
        cells = [name, step["kind"], step["open"], step["settled"], step["rejected"], step["answers"]]
        cells += [step["seconds"], per, confidence, step["gold_answers"]]
        rows.append("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _progress_plot(found: dict[str, Any]) -> Figure:
    names = list(found["steps"])
    figure = Figure(figsize=(7, 0.5 + 0.45 * len(names)))
    axes = figure.subplots()
    left = [0.0] * len(names)
    for state, colour in STATES.items():
        counts = [found["steps"][name][state] for name in names]
        axes.barh(names, counts, left=left, color=colour, label=state)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    axes.invert_yaxis()
    axes.set_xlabel("items")
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    return figure


def _agreement_plot(found: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(7, 2.6))
    axes = figure.subplots()
    edges = [tenth / 10 for tenth in range(11)]
    for name, step in found["steps"].items():
        if any(step["confidence_counts"]):
            axes.stairs(step["confidence_counts"], edges, label=name, linewidth=2)
    axes.set_xlabel("confidence of a settled item")
    axes.set_ylabel("items")
    axes.set_xlim(0, 1)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(frameon=False)
    return figure


def _quality_plot(quality: list[dict[str, Any]]) -> Figure:
    figure = Figure(figsize=(7, 2.6))
    axes = figure.subplots()
    for is_paused, colour in ((False, "#1565c0"), (True, "#c62828")):
        chosen = [row for row in quality if row["paused"] is is_paused]
        axes.scatter(
            [row["gold_answers"] for row in chosen],
            [row["gold_accuracy"] for row in chosen],
            s=14,
            color=colour,
            alpha=0.7,
            label="paused" if is_paused else "active",
        )
    axes.set_xlabel("gold answers")
    axes.set_ylabel("accuracy on gold")
    axes.set_ylim(-0.05, 1.05)
    if quality:
        axes.legend(frameon=False)
    return figure


def _png(figure: Figure) -> str:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def rules_graph(spec: ProjectSpec) -> str:
    """The steps as boxes in chain order (one row per chain), `next` as arrows, `redo` dashed."""
    targets = {step.next for step in spec.steps.values()}
    chains: list[list[Step]] = []
    for step in spec.steps.values():
        if step.name in targets:
            continue
        chain, current = [], step
        while True:
            chain.append(current)
            if current.next is None:
                break
            current = spec.step(current.next)
        chains.append(chain)
    place = {
        step.name: (20 + column * (BOX_WIDTH + GAP), 40 + row * (BOX_HEIGHT + 70))
        for row, chain in enumerate(chains)
        for column, step in enumerate(chain)
    }
    width = 40 + max(len(chain) for chain in chains) * (BOX_WIDTH + GAP)
    height = 40 + len(chains) * (BOX_HEIGHT + 70)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="the project\'s steps">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for step in spec.steps.values():
        x, y = place[step.name]
        parts.append(
            f'<g class="step" data-step="{escape(step.name)}"><rect x="{x}" y="{y}" width="{BOX_WIDTH}" '
            f'height="{BOX_HEIGHT}" rx="8" fill="#eef3fb" stroke="#1565c0"/>'
            f'<text x="{x + 10}" y="{y + 24}" font-weight="bold">{escape(step.name)} · {step.kind}</text>'
            f'<text x="{x + 10}" y="{y + 48}" font-size="13">{escape(_rule(step))}</text></g>'
        )
        if step.next is not None:
            tx, ty = place[step.next]
            parts.append(
                f'<line x1="{x + BOX_WIDTH}" y1="{y + BOX_HEIGHT / 2}" x2="{tx}" y2="{ty + BOX_HEIGHT / 2}" '
                'stroke="#333" marker-end="url(#arrow)"/>'
            )
        if step.redo is not None:
            rx, ry = place[step.redo]
            parts.append(
                f'<path d="M{x + BOX_WIDTH / 2},{y + BOX_HEIGHT} C{x + BOX_WIDTH / 2},{y + BOX_HEIGHT + 45} '
                f'{rx + BOX_WIDTH / 2},{ry + BOX_HEIGHT + 45} {rx + BOX_WIDTH / 2},{ry + BOX_HEIGHT}" '
                'fill="none" stroke="#c62828" stroke-dasharray="5 4" marker-end="url(#arrow)"/>'
                f'<text x="{(x + rx + BOX_WIDTH) / 2 - 40}" y="{y + BOX_HEIGHT + 40}" font-size="12" '
                'fill="#c62828">rejected: redo</text>'
            )
    return "".join(parts) + "</svg>"


def _rule(step: Step) -> str:
    """The step's rule in a few words."""
    options = step.options
    if step.kind == "label":
        if options["confidence"] and options["max_answers"] > options["answers"]:
            return f"{options['answers']}–{options['max_answers']} answers, DS ≥ {options['confidence']}"
        return f"{options['answers']} answers, {'several labels' if options['multiple'] else 'one label'}"
    if step.kind == "validate":
        return f"{options['votes']} votes"
    if step.kind == "create":
        return f"1 text, {options['min_characters']}–{options['max_characters']} characters"
    if step.kind == "rate":
        return f"{options['answers']} ratings, {options['low']}–{options['high']}"
    return f"{options['answers']} answers, tags: {', '.join(options['tags'])}"[:30]
