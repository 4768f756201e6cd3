"""The refit: after a fit chose its epochs (or its head's C) on dev, train again on train + dev
with that choice, so the final model learns from every labelled row outside the test split."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from accelerate.utils import set_seed

from headstart.config import TrainConfig
from headstart.data.labelled import Splits
from headstart.progress import info
from headstart.strategies import make_strategy
from headstart.tasks import Task
from headstart.training.job import Fitted, TrainingJob, refit_settings


def refit(
    fitted: Fitted,
    config: TrainConfig,
    splits: Splits,
    task: Task,
    make_job: Callable[[TrainConfig, Splits], TrainingJob],
) -> Fitted:
    """The model refitted on train + dev (or `fitted` itself when its choice cannot be replayed);
    the first fit's dev history and score stay in the report. `make_job` encodes a job."""
    settings = refit_settings(fitted.report, task.primary_metric, len(splits.dev))
    if settings is None:
        info(f"No refit: '{config.strategy}' chose nothing on dev that can be replayed without it.")
        return fitted
    joined = dataclasses.replace(splits, train=splits.train.joined(splits.dev))
    if config.soft_labels and joined.train.soft is None:
        info("No refit: the dev rows carry no soft labels to train on.")
        return fitted
    options = {key: value for key, value in settings.items() if key != "epochs"}
    refit_config = config.replace(
        epochs=settings.get("epochs", config.epochs),
        strategy_options={**config.strategy_options, **options},
    )
    info(f"Refitting on train + dev ({len(joined.train)} texts) with {settings} chosen on dev ...")
    job = dataclasses.replace(make_job(refit_config, joined), keep_last=True)
    set_seed(config.seed)
    refitted = make_strategy(refit_config.strategy, refit_config.strategy_options).fit(job)
    first = fitted.report
    refitted.report.details["refit"] = {"rows": len(joined.train), "chosen_on_dev": settings}
    refitted.report.history, refitted.report.best_dev_score = first.history, first.best_dev_score
    refitted.report.samples_seen += first.samples_seen
    return refitted
