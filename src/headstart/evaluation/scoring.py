"""Scoring a model's outputs on labelled rows: the task's metrics, the data's languages and metrics
per language, and the folder an evaluation is written to (metrics.json + confusion matrix)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from headstart.data.labelled import LabelledTexts
from headstart.evaluation.languages import language_counts, metrics_by_language
from headstart.evaluation.plots import plot_confusion_matrix
from headstart.files import replace_dir, staging_dir, write_text_atomic
from headstart.record import METRICS_FILE
from headstart.tasks import Task


def language_metrics(task: Task, outputs: Any, labelled: LabelledTexts) -> dict[str, Any]:
    """The rows' languages, and metrics per language when they hold several."""
    languages = labelled.languages()
    by_language = metrics_by_language(task, outputs, labelled.labels, languages)
    return {"languages": language_counts(languages), **({"by_language": by_language} if by_language else {})}


def score(task: Task, outputs: Any, labelled: LabelledTexts) -> dict[str, Any]:
    """The task's metrics of `outputs` against the rows' labels, with the rows' languages."""
    return {**task.metrics(outputs, labelled.labels), **language_metrics(task, outputs, labelled)}


def write_evaluation(target: Path, metrics: dict[str, Any], labels: list[str], title: str) -> None:
    """metrics.json and, for classes, the confusion matrix, swapped into `target` when complete."""
    staging = staging_dir(target)
    write_text_atomic(staging / METRICS_FILE, json.dumps(metrics, indent=2))
    if "confusion_matrix" in metrics:
        plot_confusion_matrix(metrics["confusion_matrix"], labels, staging / "confusion_matrix.png", title)
    replace_dir(staging, target)
