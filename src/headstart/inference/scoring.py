"""A trained model scored on its run's test split, and on dev (its main metric, its conformal scores)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.labelled import Splits
from headstart.devices import device_facts
from headstart.evaluation.conformal import nonconformity
from headstart.evaluation.cost import parameter_counts, peak_memory_mib, single_text_latency, timed_pass
from headstart.evaluation.scoring import language_metrics
from headstart.files import folder_size
from headstart.inference.predictor import ModelPredictor
from headstart.record import CostRecord
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


def run_cost(
    predictor: ModelPredictor,
    inputs: list[Any],
    throughput: float | None,
    model_dir: Path,
    train_seconds: float,
    samples_seen: int,
    merged_trainable: int | None,
    processes: int,
) -> CostRecord:
    """What training took and what the model costs to run, measured on the test texts: the test
    pass's `throughput` (timed here on `inputs` when there was none) and single-text latency.
    Strategies that merge added weights into the encoder (LoRA, IA³) give what trained before the
    merge as `merged_trainable`."""

    def predict(rows: list[Any]) -> Any:
        return predictor.outputs(rows, show_progress=False)

    if throughput is None:  # no test pass: timed on these texts (dev)
        throughput = timed_pass(lambda rows, _: predict(rows), inputs)[1]
    latency = single_text_latency(predict, inputs)
    counts = parameter_counts(predictor.classifier)
    return CostRecord(
        train_seconds=round(train_seconds, 2),
        train_samples_per_second=round(samples_seen / train_seconds, 2),
        batch_texts_per_second=throughput,
        latency_ms_p50=latency["latency_ms_p50"],
        latency_ms_p95=latency["latency_ms_p95"],
        model_size_bytes=folder_size(model_dir),
        parameters_total=counts["parameters_total"],
        parameters_trainable=counts["parameters_trainable"] if merged_trainable is None else merged_trainable,
        peak_memory_mib=peak_memory_mib(),
        processes=processes,
        device=device_facts(predictor.placement.device, predictor.placement.precision),
    )
