"""`headstart.train`: data → task → model → strategy → trainer → evaluation → run directory.

A run is built in `.<out>.partial/` (config and checkpoints, for --resume), written complete to
`.<out>.tmp-<pid>/`, and only then renamed to `<out>`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from accelerate import Accelerator
from accelerate.utils import set_seed

from headstart.config import TrainConfig
from headstart.data.labelled import LabelledTexts, Splits
from headstart.devices import Placement, make_accelerator, training_precision
from headstart.encoding import Encoded, Windowing, choose_max_length, encode, encode_words
from headstart.errors import ConfigError, DataWarning, RunError
from headstart.evaluation.conformal import save_calibration
from headstart.evaluation.cost import reset_peak_memory
from headstart.evaluation.languages import language_counts
from headstart.evaluation.plots import plot_confusion_matrix
from headstart.files import exclusive, replace_dir, staging_dir, write_text_atomic
from headstart.inference.predictor import ModelPredictor
from headstart.inference.scoring import dev_conformal_scores, dev_score, run_cost, test_metrics
from headstart.models.zoo import (
    cache_dir,
    hf_files_dir,
    layer_count,
    load_tokenizer,
    model_max_length,
    resolve_model,
)
from headstart.preparation import prepare_splits, training_config
from headstart.progress import info
from headstart.provenance import provenance
from headstart.record import (
    CARD_FILE,
    CONFIG_FILE,
    LABELS_FILE,
    MODEL_DIR,
    TASK_FILE,
    RunRecord,
    write_record,
)
from headstart.refit import fit_and_refit
from headstart.reports.model_card import model_card
from headstart.runs import Run
from headstart.strategies import STRATEGIES, Strategy, make_strategy
from headstart.tasks import TASKS, Regression, Task
from headstart.training.job import Fitted, TrainingJob


def train(
    data: Any = None,
    *,
    out: str | Path,
    config: TrainConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    texts: Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
    text_pairs: Sequence[str] | None = None,
    **options: Any,
) -> Run:
    """Train a classifier and write a run directory to `out`; options are TrainConfig fields.

    `data` is a file path, a pandas DataFrame or a `datasets.Dataset`; or give `texts=` and
    `labels=` (and `text_pairs=`) lists. `dev_data` and `test_data` may be tables too. Data from
    memory is checked as a file is, and nothing but the run directory is written.
    """
    config, memory = training_config(data, config, texts, labels, text_pairs, options)
    strategy = make_strategy(config.strategy, config.strategy_options)
    out = Path(out)
    if out.exists() and not overwrite:
        raise RunError(f"Output directory '{out}' already exists; choose another --out or pass --overwrite.")
    reset_peak_memory()  # the peak recorded in metrics.json is this run's
    model_path = resolve_model(config.model, config.allow_pickle)
    splits = prepare_splits(config, tuple(strategy.extra_label_columns()), memory)
    task = make_task(splits)
    tokenizer = load_tokenizer(model_path)
    resolved = resolve_config(config, strategy, splits, task, tokenizer, model_path)

    accelerator = make_accelerator(resolved.device, resolved.mixed_precision)
    # The data checked, writing starts: one writer per --out (under torchrun the first process).
    with exclusive(out) if accelerator.is_main_process else contextlib.nullcontext():
        return _fit_and_write(
            resolved, strategy, model_path, tokenizer, splits, task, out, resume, accelerator
        )


def _fit_and_write(
    resolved: TrainConfig,
    strategy: Strategy,
    model_path: Path,
    tokenizer: Any,
    splits: Splits,
    task: Task,
    out: Path,
    resume: bool,
    accelerator: Accelerator,
) -> Run:
    staging = out.with_name(f".{out.name}.partial")
    _prepare_staging(staging, resolved, resume, is_writer=accelerator.is_main_process)
    accelerator.wait_for_everyone()
    _announce(resolved, splits, task)
    job = _job(resolved, model_path, tokenizer, splits, task, staging, resume, accelerator)
    set_seed(resolved.seed)  # before fit: head initialisation, dropout and batch order all follow the seed
    started = time.perf_counter()
    # The dev texts' conformal scores under the first fit's model: the refit trains on dev.
    calibration: np.ndarray | None = None

    def calibrate(first: Fitted) -> None:
        nonlocal calibration
        calibration = dev_conformal_scores(task, lambda: _dev_outputs(first, tokenizer, job, splits), splits)

    fitted = fit_and_refit(
        strategy,
        job,
        splits,
        lambda config, joined: _job(
            config, model_path, tokenizer, joined, task, staging / "refit", resume, accelerator
        ),
        calibrate,
        lambda refitted: dev_score(task, _dev_outputs(refitted, tokenizer, job, splits), splits),
    )
    train_seconds = time.perf_counter() - started

    if accelerator.is_main_process:
        _write_run(out, staging, fitted, tokenizer, splits, job, train_seconds, calibration)
        info(f"Run saved to {out}")
    accelerator.wait_for_everyone()
    return Run.load(out, device=resolved.device, precision=resolved.precision)


def _predictor(fitted: Fitted, tokenizer: Any, job: TrainingJob) -> ModelPredictor:
    """The fitted model predicting as the run will (in eval mode, windows pooled as configured)."""
    window, batch = Windowing.from_config(job.config), job.config.eval_batch_size
    return ModelPredictor(fitted.classifier.eval(), tokenizer, job.task, window, batch, job.placement)


def _dev_outputs(fitted: Fitted, tokenizer: Any, job: TrainingJob, splits: Splits) -> Any:
    """The fitted model's outputs on the dev texts: the fit's own when it kept them (a linear
    head's, the loop's best epoch's), else predicted."""
    if fitted.dev_outputs is not None:
        return fitted.dev_outputs
    return _predictor(fitted, tokenizer, job).outputs(list(splits.dev.inputs()), show_progress=False)


def _announce(config: TrainConfig, splits: Splits, task: Task) -> None:
    """Say what is about to train, on which rows."""
    sizes = f"{len(splits.train)} train / {len(splits.dev)} dev / {len(splits.test)} test texts"
    info(
        f"Training '{config.strategy}' on {config.model}: {sizes}, {task.name} "
        f"({len(task.classes)} labels), max length {config.max_length} tokens."
    )


def _job(
    config: TrainConfig,
    model_path: Path,
    tokenizer: Any,
    splits: Splits,
    task: Task,
    staging: Path,
    resume: bool,
    accelerator: Accelerator,
) -> TrainingJob:
    """The job a strategy fits: the resolved config and the encoded train and dev splits."""
    window = Windowing.from_config(config)
    assert config.max_length is not None  # resolve_config sets it
    return TrainingJob(
        config=config,
        model_path=model_path,
        tokenizer=tokenizer,
        labels=splits.labels,
        max_length=config.max_length,
        train=_encode(tokenizer, splits.train, splits, task, window, soft=config.soft_labels),
        dev=_encode(tokenizer, splits.dev, splits, task, window),
        workdir=staging,
        resume=resume,
        accelerator=accelerator,
        task=task,
        dev_labels=splits.dev.labels,
        extra_labels=splits.extra_labels,
        train_inputs=list(splits.train.inputs()),
        feature_cache=None if config.in_memory is not None else cache_dir("features"),
        placement=Placement.of(accelerator.device, config.precision),
    )


def make_task(splits: Splits) -> Task:
    """The task of the splits; regression targets are scaled by the training split."""
    task = TASKS[splits.task](splits.labels)
    if isinstance(task, Regression):  # targets are standardised with the training split's mean and spread
        task.fit_scale(splits.train.labels)
    return task


def resolve_config(
    config: TrainConfig, strategy: Strategy, splits: Splits, task: Task, tokenizer: Any, model_path: Path
) -> TrainConfig:
    """The config with every default resolved from the data and the strategy (saved with the run),
    after the checks that need the data: the task suits the strategy and the options."""
    if task.name not in strategy.tasks:
        handles = sorted(name for name, cls in STRATEGIES.items() if task.name in cls.tasks)
        raise ConfigError(
            f"Strategy '{config.strategy}' does not handle {task.name} data; choose one of {handles}."
        )
    if config.soft_labels and splits.train.soft is None:
        raise ConfigError(
            "--soft-labels needs --annotations: soft labels come from several annotators' answers."
        )
    if config.soft_labels and config.class_weights:
        raise ConfigError(
            "--class-weights counts hard labels; it cannot be combined with --soft-labels. Drop one of them."
        )
    if config.soft_labels and (task.name != "classification" or not strategy.soft_labels):
        raise ConfigError(
            f"--soft-labels needs single-label classes and a strategy trained by gradient steps; "
            f"'{config.strategy}' on {task.name} data cannot use "
            "them. Drop --soft-labels or pick e.g. finetune."
        )
    if config.freeze_layers and not strategy.trains_encoder:
        raise ConfigError(
            f"--freeze-layers keeps encoder layers out of training; '{config.strategy}' trains none. "
            "Drop it or pick e.g. finetune, lora or bitfit."
        )
    if config.freeze_layers and config.freeze_layers >= (layers := layer_count(model_path)) > 0:
        raise ConfigError(
            f"--freeze-layers {config.freeze_layers} leaves nothing to train: the encoder has {layers} "
            f"layers; use at most {layers - 1}."
        )
    if config.class_weights and task.name != "classification":
        raise ConfigError(
            f"--class-weights applies to single-label classification, not to a {task.name} task; drop it."
        )
    max_length = config.max_length or choose_max_length(
        tokenizer,
        splits.train.texts,
        config.length_percentile,
        strategy.max_tokens or model_max_length(model_path, strategy.trains_encoder),
        splits.train.pairs,
    )
    if config.stride is not None and (splits.pair_col is not None or config.stride > max_length // 2):
        raise ConfigError(
            f"--stride {config.stride} needs single texts (not pairs) and at most half of the window "
            f"({max_length} tokens), so windows move forward; lower it or drop it."
        )
    return config.replace(
        max_length=max_length,
        lr=config.lr or strategy.default_lr,
        text_pair_col=splits.pair_col,
        task=task.name,
        class_weights=config.weighs_classes(task.name, splits.train.labels),
        mixed_precision=training_precision(config.mixed_precision, config.device, strategy.trains_encoder),
        strategy_options=strategy.config.to_dict(),
    )


def _encode(
    tokenizer: Any, part: LabelledTexts, splits: Splits, task: Task, window: Windowing, soft: bool = False
) -> Encoded:
    """Token ids plus the task's targets and the class ids of every extra label column."""
    label_ids = task.targets(part.labels)
    if soft and part.soft is not None:  # the label distribution over the model's classes, renormalised
        rows = [[row.get(label, 0.0) for label in task.classes] for row in part.soft]
        label_ids = [[p / (sum(row) or 1.0) for p in row] for row in rows]
    if task.token_level:
        assert part.words is not None  # token tasks read words
        return encode_words(tokenizer, part.words, window, label_ids)
    extra_ids = None
    if splits.extra_labels:
        columns = [
            [classes.index(value) for value in part.extra[column]]
            for column, classes in splits.extra_labels.items()
        ]
        extra_ids = list(zip(*columns, strict=True))
    return encode(tokenizer, part.texts, window, label_ids, extra_ids, part.pairs)


def _prepare_staging(staging: Path, config: TrainConfig, resume: bool, is_writer: bool) -> None:
    """Every process checks (so all fail alike, none waits forever); only the writer touches files."""
    saved_config = staging / CONFIG_FILE
    if resume:
        if not saved_config.is_file():
            raise RunError(
                "Nothing to resume: no interrupted run at "
                f"'{staging}'; run the same command without --resume."
            )
        before = TrainConfig.from_yaml(saved_config).to_dict()
        changed = sorted(
            key
            for key, value in config.to_dict().items()
            if before.get(key) != value
            and key not in ("device", "precision", "mixed_precision")  # resume elsewhere
        )
        if changed:
            raise ConfigError(
                f"--resume needs the options of the interrupted run, but {changed} differ; "
                "repeat the original command or drop --resume to start over."
            )
        return
    if not is_writer:
        return
    if staging.exists():
        warnings.warn(
            f"Discarding the interrupted run in '{staging}'; pass --resume to continue such a run instead.",
            DataWarning,
            stacklevel=3,
        )
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    config.save_yaml(saved_config)


def _write_run(
    out: Path,
    staging: Path,
    fitted: Fitted,
    tokenizer: Any,
    splits: Splits,
    job: TrainingJob,
    train_seconds: float,
    calibration: np.ndarray | None,
) -> None:
    """Evaluate on the test split, then write every file into a fresh folder and swap it into place."""
    config, task = job.config, job.task
    predictor = _predictor(fitted, tokenizer, job)
    test, test_throughput = test_metrics(predictor, splits, fitted.dev_outputs)
    target = staging_dir(out)
    (target / MODEL_DIR).mkdir()
    fitted.classifier.save(target / MODEL_DIR)
    tokenizer.save_pretrained(hf_files_dir(target / MODEL_DIR))  # beside the encoder's config
    record = RunRecord(
        test=test,
        best_dev_score=fitted.report.best_dev_score,
        dev_metric=task.primary_metric,
        training=fitted.report.to_record(),
        cost=run_cost(
            predictor,
            list((splits.test if len(splits.test) else splits.dev).inputs()),  # dev without a test split
            test_throughput,
            target / MODEL_DIR,
            train_seconds,
            fitted.report.samples_seen,
            fitted.report.parameters_trainable,
            job.accelerator.num_processes,
        ),
        data=splits.facts(),
    )
    if not task.token_level:
        record["data"]["languages"] = language_counts(splits.train.languages())
    record["provenance"] = provenance(record["cost"]["device"])
    config.save_yaml(target / CONFIG_FILE)
    write_text_atomic(target / LABELS_FILE, json.dumps(task.classes))
    write_text_atomic(target / TASK_FILE, json.dumps(task.to_dict()))
    write_record(target, record)
    if calibration is not None:
        refitted = "refit" in record["training"]
        save_calibration(target, calibration, "dev, by the model before the refit" if refitted else "dev")
    write_text_atomic(target / CARD_FILE, model_card(config.to_dict(), record, task))
    if "confusion_matrix" in test:
        plot_confusion_matrix(
            test["confusion_matrix"],
            task.classes,
            target / "confusion_matrix.png",
            "Test set: confusion matrix",
        )
    replace_dir(target, out)
    shutil.rmtree(staging, ignore_errors=True)
