"""Pictures of results (PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    counts = np.asarray(matrix)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(labels) + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if len(labels) <= 20:
        for i in range(len(labels)):
            for j in range(len(labels)):
                axes.text(j, i, str(counts[i, j]), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of true class")
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    os.replace(temporary, path)
