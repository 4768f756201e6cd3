"""A run directory's files and its record, `metrics.json`: one typed schema, read and written here.

Every reader (runs, comparisons, searches, learning curves, compression, model cards) goes
through `read_record`, so an older layout is upgraded in one place. Schema versions:
1. headstart 0.1.0 wrote no `schema_version`; its fields are those of version 2.
2. adds `schema_version`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypedDict

from headstart.errors import RunError
from headstart.files import write_text_atomic

SCHEMA_VERSION = 2

# The files of a run directory.
CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.json"
METRICS_FILE = "metrics.json"
TASK_FILE = "task.json"
CARD_FILE = "README.md"
ENSEMBLE_FILE = "ensemble.json"
MODEL_DIR = "model"
VARIANTS_DIR = "variants"  # quantised models beside the fp32 one, a folder each
RUN_FILES = (CONFIG_FILE, LABELS_FILE, METRICS_FILE, f"{MODEL_DIR}/classifier.json")


class CostRecord(TypedDict, total=False):
    """What training and inference cost, measured at the end of training."""

    train_seconds: float
    train_samples_per_second: float
    batch_texts_per_second: float
    latency_ms_p50: float
    latency_ms_p95: float
    model_size_bytes: int
    parameters_total: int
    parameters_trainable: int
    peak_memory_mib: float
    processes: int
    device: dict[str, Any]  # what inference was measured on: device, precision, CPU, threads, GPU


class DataRecord(TypedDict, total=False):
    """Rows per split, the fingerprint of each split (`fingerprint`: the training split's, as
    before) and the training languages (text tasks)."""

    train: int
    dev: int
    test: int
    fingerprint: str
    fingerprints: dict[str, str]
    languages: dict[str, int]


class CompressionRecord(TypedDict, total=False):
    """Models measured against a reference in one process: `models[name]` holds the main metric,
    speed, size and their change against the reference (`of`)."""

    models: dict[str, dict[str, Any]]
    source: str
    chosen: str  # quantization: the variant `--variant auto` (serve and predict's default) loads


class MemberRecord(TypedDict):
    """One run of an ensemble."""

    run: str
    model: str
    strategy: str
    seed: int
    test: dict[str, float]


class RunRecord(TypedDict, total=False):
    """metrics.json. Trained runs hold test, training, cost and data; ensembles hold members (and
    test when evaluated); compression steps add `compression[section]`."""

    schema_version: int
    test: dict[str, Any]  # the task's metrics on the test split (see the task's `metrics`)
    best_dev_score: float | None
    dev_metric: str  # the task's main metric, which picked the epoch or setting on dev
    training: dict[str, Any]  # the strategy's report: history, steps, samples_seen, ... (FitReport)
    cost: CostRecord
    data: DataRecord
    compression: dict[str, CompressionRecord]
    members: list[MemberRecord]
    provenance: dict[str, Any]  # headstart version and commit, library versions, platform, device


def read_record(run_dir: Path) -> RunRecord:
    """The run's metrics.json, upgraded to the current schema."""
    path = run_dir / METRICS_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(
            f"'{run_dir}' has no {METRICS_FILE}; pass a run directory written by headstart."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunError(f"'{path}' is not valid JSON; retrain the run or restore the file.") from None
    version = values.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RunError(
            f"'{path}' has schema version {version!r}, newer than this headstart reads "
            f"({SCHEMA_VERSION}); upgrade headstart."
        )
    values["schema_version"] = SCHEMA_VERSION  # version 1 differs only by lacking the field
    record: RunRecord = values
    return record


def write_record(run_dir: Path, record: RunRecord) -> None:
    """Write metrics.json atomically, stamped with the current schema version."""
    stamped = RunRecord(schema_version=SCHEMA_VERSION)  # first in the file, for people reading it
    stamped.update(record)
    stamped["schema_version"] = SCHEMA_VERSION
    write_text_atomic(run_dir / METRICS_FILE, json.dumps(stamped, indent=2))
