"""Which languages a data set holds, metrics per language, and whether an evaluation is a
cross-lingual transfer (a model evaluated on languages it was not trained on).

Each row's language comes from the data (`LabelledTexts.languages`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from headstart.tasks import Task

MIN_ROWS = 5  # languages with fewer rows are counted but get no metrics of their own
MIN_SHARE = 0.05  # a data set "holds several languages" when two of them have this share of rows each


def language_counts(languages: Sequence[str]) -> dict[str, int]:
    """Rows per language, most frequent first."""
    return dict(Counter(languages).most_common())


def metrics_by_language(
    task: Task, outputs: Any, labels: Sequence[Any], languages: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The task's scalar metrics for each language with at least MIN_ROWS rows; empty when the data
    holds one language only (a detector's stray calls on a few rows do not make it multilingual)."""
    counts = language_counts(languages)
    if sum(count >= max(MIN_ROWS, MIN_SHARE * len(languages)) for count in counts.values()) < 2:
        return {}
    result = {}
    for language, count in counts.items():
        if count < MIN_ROWS:
            continue
        rows = [i for i, lang in enumerate(languages) if lang == language]
        part = [outputs[i] for i in rows] if isinstance(outputs, list) else np.asarray(outputs)[rows]
        scores = task.metrics(part, [labels[i] for i in rows])
        result[language] = {"examples": count, **{k: v for k, v in scores.items() if isinstance(v, float)}}
    return result


def transfer_report(
    trained_on: dict[str, int] | None,
    evaluated_on: dict[str, int],
    in_language: float | None,
    transferred: float,
    metric: str,
) -> dict[str, Any] | None:
    """Names a zero-shot cross-lingual transfer: the evaluation's main language was (almost) absent
    from training. Returns None for an in-language evaluation or when training languages are unknown."""
    if not trained_on or not evaluated_on:
        return None
    main = next(iter(evaluated_on))
    if trained_on.get(main, 0) >= 0.05 * sum(trained_on.values()):
        return None
    return {
        "kind": "zero-shot cross-lingual transfer",
        "trained_on": list(trained_on)[:5],
        "evaluated_on": list(evaluated_on)[:5],
        "metric": metric,
        "in_language": in_language,
        "transferred": transferred,
        "change_points": None if in_language is None else round(100 * (transferred - in_language), 2),
    }
