"""Pictures of results (PNG), drawn on matplotlib Figures directly: no pyplot state, no display."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from headstart.tasks.metrics import METRIC_NAMES


def _save(figure: Figure, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    os.replace(temporary, path)


def plot_pareto(board: pd.DataFrame, path: Path, metric: str = "macro_f1") -> None:
    """The task's main metric against single-text latency, one point per (model, strategy) with ±
    std over seeds."""
    figure = Figure(figsize=(7.5, 5))
    axes = figure.subplots()
    for row in board.to_dict("records"):
        axes.errorbar(
            row["latency_ms_p50"],
            row[f"{metric}_mean"],
            yerr=row[f"{metric}_std"],
            fmt="o",
            color="tab:red" if row["pareto"] else "tab:blue",
            capsize=3,
        )
        axes.annotate(
            f"{row['strategy']}\n{row['model']}",
            (row["latency_ms_p50"], row[f"{metric}_mean"]),
            fontsize=7,
            xytext=(5, 4),
            textcoords="offset points",
        )
    front = board[board.pareto].sort_values("latency_ms_p50")
    axes.plot(front.latency_ms_p50, front[f"{metric}_mean"], "--", color="tab:red", label="Pareto front")
    axes.set_xlabel("single-text latency p50 (ms)")
    axes.set_ylabel(f"test {METRIC_NAMES.get(metric, metric)} (mean ± std over seeds)")
    axes.set_title("Accuracy against latency")
    axes.legend(loc="lower right")
    figure.tight_layout()
    _save(figure, path)


def plot_tuning(trials: pd.DataFrame, path: Path) -> None:
    """Every trial's dev score against latency, the Pareto front joined up and labelled."""
    figure = Figure(figsize=(7.5, 5))
    axes = figure.subplots()
    others, front = trials[~trials.pareto], trials[trials.pareto].sort_values("latency_ms_p50")
    axes.scatter(others.latency_ms_p50, others.dev_score, color="tab:blue", alpha=0.6, label="trial")
    axes.plot(front.latency_ms_p50, front.dev_score, "o--", color="tab:red", label="Pareto front")
    for row in front.itertuples():
        axes.annotate(
            f"#{row.trial}",
            (row.latency_ms_p50, row.dev_score),
            fontsize=8,
            xytext=(5, 4),
            textcoords="offset points",
        )
    axes.set_xlabel("single-text latency p50 (ms)")
    axes.set_ylabel(f"dev {trials.metric.iloc[0]}")
    axes.set_title(f"Hyper-parameter search: {len(trials)} trials")
    axes.legend(loc="lower right")
    figure.tight_layout()
    _save(figure, path)


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    """The confusion matrix as a PNG: rates as colours, counts in the cells."""
    counts = np.asarray(matrix)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(labels) + 2.5)
    figure = Figure(figsize=(size + 1, size))
    axes = figure.subplots()
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if len(labels) <= 20:
        for i in range(len(labels)):
            for j in range(len(labels)):
                axes.text(
                    j,
                    i,
                    str(counts[i, j]),
                    ha="center",
                    va="center",
                    color="white" if rates[i, j] > 0.5 else "black",
                )
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of true class")
    figure.tight_layout()
    _save(figure, path)


def plot_curves(
    curve: pd.DataFrame,
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    lines: dict[str, float] | None = None,
    log_x: bool = True,
) -> None:
    """One line per series with a ± std band: `curve` has columns series, x, mean, std (a DataFrame).
    `lines` adds labelled horizontal references (e.g. full-data accuracy)."""
    figure = Figure(figsize=(7.5, 5))
    axes = figure.subplots()
    for series, part in curve.groupby("series", sort=False):
        part = part.sort_values("x")
        std = part["std"].fillna(0.0)
        axes.plot(part["x"], part["mean"], "o-", label=str(series), markersize=4)
        axes.fill_between(part["x"], part["mean"] - std, part["mean"] + std, alpha=0.2)
    for number, (name, value) in enumerate((lines or {}).items()):
        axes.axhline(value, linestyle="--" if number == 0 else ":", color="gray", linewidth=1)
        axes.annotate(
            name,
            (0.01, value),
            xycoords=("axes fraction", "data"),
            fontsize=8,
            xytext=(0, 3),
            textcoords="offset points",
        )
    if log_x:
        axes.set_xscale("log", base=2)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, path)
