"""`headstart ensemble`: several runs (seeds, models or strategies) saved as one predictor that
averages their probabilities. The members are copied in, so the ensemble stands on its own."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from headstart.config import write_text_atomic
from headstart.errors import ConfigError, DataError, RunError
from headstart.evaluation.plots import plot_confusion_matrix
from headstart.run import ENSEMBLE_FILE, EnsemblePredictor, Run, replace_dir, score_file


def ensemble(runs: list[str | Path], *, out: str | Path, data: str | Path | None = None, text_col: str | None = None,
             label_col: str | None = None, overwrite: bool = False) -> Run:
    """Save the mean-probability ensemble of `runs` to `out`; evaluate it on `data` when given."""
    if len(runs) < 2:
        raise ConfigError(f"An ensemble needs at least 2 runs, got {len(runs)}.")
    out = Path(out)
    if out.exists() and not overwrite:
        raise RunError(f"Output directory '{out}' already exists; choose another --out or pass --overwrite.")
    members = [Run.load(run) for run in runs]
    for member in members[1:]:
        if member.labels != members[0].labels or member.task.name != members[0].task.name:
            raise DataError(f"Runs '{members[0].path}' and '{member.path}' have different labels "
                            f"({members[0].task.name} {members[0].labels} vs {member.task.name} {member.labels}); "
                            "ensemble runs trained on the same task and classes.")
        if (member.config.text_pair_col is None) != (members[0].config.text_pair_col is None):
            raise DataError(f"Runs '{members[0].path}' and '{member.path}' differ in reading sentence pairs; ensemble runs with the same inputs.")

    metrics: dict = {"members": [{"run": str(m.path), "model": m.config.model, "strategy": m.config.strategy,
                                  "seed": m.config.seed, "test": {k: v for k, v in m.metrics["test"].items() if isinstance(v, float)}}
                                 for m in members]}
    labels = members[0].labels
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if data is not None:
        metrics["test"] = score_file(EnsemblePredictor([m.predictor for m in members]), members[0].config, data, text_col, label_col)
    if "confusion_matrix" in metrics.get("test", {}):
        plot_confusion_matrix(metrics["test"]["confusion_matrix"], labels, staging / "confusion_matrix.png",
                              f"Ensemble on {Path(data).name}: confusion matrix")

    names = []
    for number, member in enumerate(members):
        names.append(f"members/{number}")
        shutil.copytree(member.path, staging / names[-1], ignore=shutil.ignore_patterns("evaluations"))
    write_text_atomic(staging / ENSEMBLE_FILE, json.dumps({"combine": "mean-probabilities", "members": names}, indent=2))
    write_text_atomic(staging / "labels.json", json.dumps(labels))
    write_text_atomic(staging / "metrics.json", json.dumps(metrics, indent=2))
    members[0].config.save_yaml(staging / "config.yaml")
    replace_dir(staging, out)
    return Run.load(out)
