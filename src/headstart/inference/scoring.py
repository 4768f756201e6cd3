"""A trained model scored on its run's test split, and on dev (its main metric, its conformal scores)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from headstart.data.labelled import Splits
from headstart.evaluation.conformal import nonconformity
from headstart.evaluation.cost import timed_pass
from headstart.evaluation.scoring import language_metrics
from headstart.inference.predictor import ModelPredictor
from headstart.tasks import Task
from headstart.tasks.metrics import classification_metrics


def test_metrics(
    predictor: ModelPredictor, splits: Splits, dev_outputs: Any = None
) -> tuple[dict[str, Any], float | None]:
    """The task's metrics on the test split (languages for text tasks, per head for multi-task
    runs) and the test pass's batch throughput, texts/s (None without a test split). `dev_outputs`:
    the model's on dev when the fit kept them (else predicted when needed)."""
    task = predictor.task
    if task.learns_decision:  # e.g. multi-label thresholds: chosen on dev, before the test split is touched
        if dev_outputs is None:
            dev_outputs = predictor.outputs(splits.dev.inputs(), description="Tuning thresholds")
        task.fit_decision(dev_outputs, splits.dev.labels)
    if len(splits.test) == 0:  # test_size 0: the run is scored on dev only
        return {}, None
    heads, throughput = timed_pass(  # one pass for every head
        lambda rows, shown: predictor.predict_heads(rows, shown, "Testing"), splits.test.inputs()
    )
    test = task.metrics(heads["label"], splits.test.labels)
    if not task.token_level:  # languages of the test split, metrics per language when several
        test.update(language_metrics(task, heads["label"], splits.test))
    if splits.extra_labels:  # multi-task: the further heads are scored on their own columns
        test["heads"] = {
            column: classification_metrics(
                heads[column], np.array([classes.index(x) for x in splits.test.extra[column]]), classes
            )
            for column, classes in splits.extra_labels.items()
        }
    return test, throughput


def dev_score(task: Task, dev_outputs: Any, splits: Splits) -> float:
    """The task's main metric of a model's outputs on the dev split: what chose the first fit's
    epochs or C."""
    return float(task.metrics(dev_outputs, splits.dev.labels)[task.primary_metric])


def dev_conformal_scores(task: Task, dev_outputs: Callable[[], Any], splits: Splits) -> np.ndarray | None:
    """The conformal scores of the dev texts (see evaluation/conformal.py) from a model's outputs
    on them, asked for only when needed; None for tasks other than single-label classes, or
    without dev texts."""
    if task.name != "classification" or not len(splits.dev):
        return None
    return nonconformity(dev_outputs(), task.targets(splits.dev.labels))
