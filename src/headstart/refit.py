"""The refit: after a fit chose its epochs (or its head's C) on dev, train again on train + dev
with that choice, so the final model learns from every labelled row outside the test split."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from accelerate.utils import set_seed

from headstart.config import TrainConfig
from headstart.data.labelled import Splits
from headstart.progress import info
from headstart.strategies import make_strategy
from headstart.strategies.base import Strategy
from headstart.tasks import Task
from headstart.training.job import FitReport, Fitted, TrainingJob, refit_settings

MakeJob = Callable[[TrainConfig, Splits], TrainingJob]  # encodes a job of a config and its splits


def fit_and_refit(
    strategy: Strategy,
    job: TrainingJob,
    splits: Splits,
    make_job: MakeJob,
    inspect_first: Callable[[Fitted], None] | None = None,
) -> Fitted:
    """The strategy's fit (choosing on dev), then the refit on train + dev when the config asks for
    it and the choice can be replayed. `make_job` encodes the refit's job; `inspect_first` sees the
    first fit's model while dev is still held out from it (e.g. to calibrate on dev)."""
    fitted = strategy.fit(job)
    if inspect_first is not None:
        inspect_first(fitted)
    refits = strategy.replays_on_refit and job.config.refits(len(splits.train) + len(splits.dev))
    settings = refit_plan(fitted.report, job.config, splits, job.task) if refits else None
    if settings is None:
        return fitted
    first = fitted.report
    del fitted  # the first model, and its optimiser held by the accelerator, go before the refit's
    job.accelerator.free_memory()
    return refit(first, settings, job.config, splits, make_job)


def refit_plan(report: FitReport, config: TrainConfig, splits: Splits, task: Task) -> dict[str, Any] | None:
    """What the refit replays (the settings the first fit chose on dev), or None when it cannot."""
    settings = refit_settings(report, task.primary_metric, len(splits.dev))
    if settings is None:
        info(f"No refit: '{config.strategy}' chose nothing on dev that can be replayed without it.")
    elif config.soft_labels and None in (splits.train.soft, splits.dev.soft):
        info("No refit: the dev rows carry no soft labels to train on.")
        return None
    return settings


def refit(
    first: FitReport,
    settings: dict[str, Any],
    config: TrainConfig,
    splits: Splits,
    make_job: MakeJob,
) -> Fitted:
    """The model trained again on train + dev with `settings` (from `refit_plan`); the first fit's
    dev history and score stay in the report. The caller drops the first fit's model before: both
    at once would double a fine-tuning run's peak memory."""
    joined = dataclasses.replace(splits, train=splits.train.joined(splits.dev))
    options = {key: value for key, value in settings.items() if key != "epochs"}
    refit_config = config.replace(
        epochs=settings.get("epochs", config.epochs),
        strategy_options={**config.strategy_options, **options},
    )
    info(f"Refitting on train + dev ({len(joined.train)} texts) with {settings} chosen on dev ...")
    job = dataclasses.replace(make_job(refit_config, joined), keep_last=True)
    set_seed(config.seed)
    refitted = make_strategy(refit_config.strategy, refit_config.strategy_options).fit(job)
    refitted.report.details["refit"] = {
        "rows": len(joined.train),
        "chosen_on_dev": settings,
        "first_fit": first.details,  # e.g. the static model's distillation time, which the refit reuses
    }
    refitted.report.history, refitted.report.best_dev_score = first.history, first.best_dev_score
    refitted.report.samples_seen += first.samples_seen
    return refitted
