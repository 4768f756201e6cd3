"""Batch prediction over many files (or folders of them): one output per input, in one process or
on Ray Data, where `map_batches` runs the run's predictor in a pool of actors (one model each).

With Ray, the driver reads each file (headstart's readers: encodings, delimiters, Excel) and
writes its output; the actors, on any node of the cluster, only predict. The run folder must be
at the same path on every node (shared storage), as Ray's own docs ask of model files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.io import FORMATS, as_strings, write_table_atomic
from headstart.data.memory import Table
from headstart.errors import ConfigError, DataError
from headstart.extras import optional
from headstart.preparation import prediction_inputs, pseudonymizer_for
from headstart.privacy.pseudonyms import pseudonymize_frame
from headstart.progress import info
from headstart.runs import Run, load_run
from headstart.workflows.predict_file import (
    check_set_options,
    input_rows,
    label_set_columns,
    prediction_columns,
    uncertain_queue,
)

ENGINES = ("local", "ray")
ROW = "__headstart_row"  # the input order, carried through Ray's shuffles
BATCH_ROWS = 256  # rows per batch handed to an actor: large enough that per-call overhead is small


def predict_many(
    run_dir: str | Path,
    inputs: list[str | Path],
    out_dir: str | Path,
    engine: str = "local",
    address: str | None = None,
    workers: int = 2,
    variant: str = "auto",
    device: str = "auto",
    text_col: str | None = None,
    text_pair_col: str | None = None,
    pseudonymize: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    coverage: float | None = None,
    queue: str | Path | None = None,
) -> dict[str, int]:
    """Predict every file of `inputs` (folders: their files in a known format) into `out_dir`,
    one output of the same name and format per input; returns the rows written per output. With
    `coverage`, each output gets `label_set` and `uncertain` (see `predict_file`), computed on the
    driver from the predicted probabilities, and `queue` gathers every file's uncertain rows (items
    named `<file>:<id or row>`)."""
    if engine not in ENGINES:
        raise ConfigError(f"Unknown engine '{engine}'; choose one of {', '.join(ENGINES)}.")
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    check_set_options(coverage, queue)
    files = input_files(inputs)
    run = load_run(run_dir, variant, device)
    if coverage is not None:
        run.check_label_sets(coverage)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    predict = _local(run) if engine == "local" else _on_ray(run, variant, device, address, workers)
    pseudonymizer = pseudonymizer_for(run.config, pseudonymize)
    tables, texts = [], []
    for file in files:
        rows, source, _ = input_rows(file, encoding, delimiter)
        if pseudonymizer is not None:  # on the driver: no personal data reaches a worker
            rows = pseudonymize_frame(rows, pseudonymizer)
        texts += prediction_inputs(run.config, Table(as_strings(rows), source), text_col, text_pair_col)
        tables.append(rows)
    info(f"Predicting {len(texts)} rows of {len(files)} files ({engine}) ...")
    columns = predict(texts)  # every file in one job: the actors load the model once
    if coverage is not None:
        columns = columns.assign(**label_set_columns(run, columns, coverage))
    written, tasks, start = {}, [], 0
    for file, rows in zip(files, tables, strict=True):
        part = columns.iloc[start : start + len(rows)].set_index(rows.index)
        result = pd.concat([rows, part], axis=1)
        if queue is not None:
            file_texts = texts[start : start + len(rows)]
            tasks.append(uncertain_queue(result, file_texts, run.config.label_sep, file.name))
        start += len(rows)
        target = out_dir / file.name
        write_table_atomic(result, target)
        written[str(target)] = len(rows)
    if queue is not None:
        write_table_atomic(pd.concat(tasks, ignore_index=True), queue)
    return written


def input_files(inputs: list[str | Path]) -> list[Path]:
    """The files named, and those of the folders named (in a format headstart reads), once each."""
    files: list[Path] = []
    for given in map(Path, inputs):
        if given.is_dir():
            files += sorted(p for p in given.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
        elif given.is_file():
            files.append(given)
        else:
            raise DataError(f"Input '{given}' does not exist; give files or folders of them.")
    names = [file.name for file in files]
    clash = sorted({name for name in names if names.count(name) > 1})
    if clash:
        raise DataError(f"Two inputs are named '{clash[0]}', and each output takes its input's name.")
    if not files:
        raise DataError(
            "No input files found; give CSV, TSV, JSONL, Parquet or Excel files, or their folder."
        )
    return files


def _local(run: Run) -> Any:
    return lambda texts: pd.DataFrame(prediction_columns(run, texts))


class RunPredictor:
    """A Ray Data actor: loads the run once, then predicts each batch of rows it is handed."""

    def __init__(self, run_dir: str, variant: str, device: str) -> None:
        import torch

        torch.set_num_threads(1)  # one CPU per actor (num_cpus=1): more threads fight the other actors
        self.run = load_run(run_dir, variant, device)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        """The prediction columns of a batch, with each row's position in the input."""
        texts = [x if isinstance(x, str) else tuple(x) for x in batch["input"]]  # pairs arrive as arrays
        columns = pd.DataFrame(prediction_columns(self.run, texts))
        columns[ROW] = batch[ROW].to_numpy()
        return columns


def _on_ray(run: Run, variant: str, device: str, address: str | None, workers: int) -> Any:
    """A function predicting a list of inputs with a pool of `workers` actors on Ray."""
    with optional("--engine ray"):
        import ray

    if not ray.is_initialized():  # a local Ray of `workers` CPUs, or the cluster at `address`
        cpus = workers if address is None else None  # a cluster has its own CPUs
        ray.init(address=address, num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    run_dir = str(run.path.resolve())

    def predict(texts: list[Any]) -> pd.DataFrame:
        rows = [{ROW: i, "input": list(x) if isinstance(x, tuple) else x} for i, x in enumerate(texts)]
        predicted = ray.data.from_items(rows).map_batches(
            RunPredictor,
            fn_constructor_kwargs={"run_dir": run_dir, "variant": variant, "device": device},
            batch_size=BATCH_ROWS,
            batch_format="pandas",
            concurrency=workers,
            num_cpus=1,
            num_gpus=1 if device.startswith("cuda") else 0,  # Ray hides GPUs from actors not given one
        )
        frame = predicted.to_pandas().sort_values(ROW)
        return frame.drop(columns=ROW).reset_index(drop=True)

    return predict
