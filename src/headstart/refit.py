"""The refit: after a fit chose its epochs (or its head's C) on dev, train again on train + dev
with that choice, so the final model learns from every labelled row outside the test split."""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelerate.utils import set_seed

from headstart.config import TrainConfig
from headstart.data.labelled import Splits
from headstart.errors import TrainingWarning
from headstart.models.saved import load_classifier
from headstart.progress import info
from headstart.strategies import make_strategy
from headstart.strategies.base import Strategy
from headstart.tasks import Task
from headstart.training.job import FitReport, Fitted, TrainingJob, refit_settings, standard_error

MakeJob = Callable[[TrainConfig, Splits], TrainingJob]  # encodes a job of a config and its splits
ScoreOnDev = Callable[[Fitted], float]  # a fitted model's main metric on the dev split


def fit_and_refit(
    strategy: Strategy,
    job: TrainingJob,
    splits: Splits,
    make_job: MakeJob,
    inspect_first: Callable[[Fitted], None] | None = None,
    score_on_dev: ScoreOnDev | None = None,
) -> Fitted:
    """The strategy's fit (choosing on dev), then the refit on train + dev when the config asks for
    it and the choice can be replayed. `make_job` encodes the refit's job; `inspect_first` sees the
    first fit's model while dev is still held out from it (e.g. to calibrate on dev). With
    `score_on_dev`, a refit that fails its check (see `checked_refit`) gives way to the first model."""
    fitted = strategy.fit(job)
    if inspect_first is not None:
        inspect_first(fitted)
    refits = strategy.replays_on_refit and job.config.refits(len(splits.train) + len(splits.dev))
    settings = refit_plan(fitted.report, job.config, splits, job.task) if refits else None
    if settings is None:
        return fitted
    first = fitted.report
    # The first model waits on disk, not in memory: holding it, and its optimiser held by the
    # accelerator, through the refit would double a fine-tuning run's peak memory.
    kept = job.workdir / "first-fit" if score_on_dev and first.best_dev_score is not None else None
    if kept and job.accelerator.is_main_process:
        fitted.classifier.save(kept)
    del fitted
    job.accelerator.free_memory()
    refitted = refit(first, settings, job.config, splits, make_job)
    if kept is None or score_on_dev is None:
        return refitted
    job.accelerator.wait_for_everyone()  # the first model is written before any process may read it
    return checked_refit(refitted, first, kept, score_on_dev(refitted), len(splits.dev), job)


def checked_refit(
    refitted: Fitted, first: FitReport, kept: Path, seen: float, dev_rows: int, job: TrainingJob
) -> Fitted:
    """The refit's model, unless it scores `seen` on the dev texts it trained on, more than a
    standard error below the first fit's score on them unseen: then the refit failed (at lr 2e-4
    one on zh-inews predicted a single class) and the first fit's model, saved in `kept`, stays.
    Nothing else checks a refit: it has no held-out texts left."""
    assert first.best_dev_score is not None  # fit_and_refit keeps a first model only with a score
    unseen = first.best_dev_score
    refit_record = refitted.report.details["refit"]
    refit_record["dev_score_seen"] = seen
    fails = seen < unseen - standard_error(unseen, dev_rows)
    classifier = load_classifier(kept, job.config.allow_pickle) if fails else None
    job.accelerator.wait_for_everyone()  # every process has read the first model before it goes
    if job.accelerator.is_main_process:
        shutil.rmtree(kept, ignore_errors=True)
    if classifier is None:
        return refitted
    warnings.warn(
        f"The refit on train + dev scored {seen:.3f} ({job.task.primary_metric}) on the dev texts it "
        f"trained on, below the first fit's {unseen:.3f} on them unseen: the run keeps the first "
        "fit's model; try a smaller --lr or --refit no.",
        TrainingWarning,
        stacklevel=2,
    )
    first.details["refit_rejected"] = {
        **{key: refit_record[key] for key in ("rows", "chosen_on_dev", "dev_score_seen")},
        "first_dev_score": unseen,
    }
    first.samples_seen = refitted.report.samples_seen  # both fits' rows: the time spent covers both
    return Fitted(classifier, first)


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
