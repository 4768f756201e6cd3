"""`headstart ensemble`: several runs (seeds, models or strategies) saved as one predictor that
averages their probabilities. The members are copied in, so the ensemble stands on its own."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from headstart.data.memory import file_table, is_path, memory_table
from headstart.errors import ConfigError, DataError, RunError
from headstart.evaluation.plots import plot_confusion_matrix
from headstart.evaluation.scoring import score
from headstart.files import replace_dir, staging_dir, write_text_atomic
from headstart.inference.predictor import EnsemblePredictor
from headstart.preparation import prepare_labelled
from headstart.record import CONFIG_FILE, ENSEMBLE_FILE, LABELS_FILE, MemberRecord, RunRecord, write_record
from headstart.runs import Run


def ensemble(
    runs: Sequence[str | Path],
    *,
    out: str | Path,
    data: Any = None,
    text_col: str | None = None,
    label_col: str | None = None,
    overwrite: bool = False,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Run:
    """Save the mean-probability ensemble of `runs` to `out`; evaluate it on `data` when given."""
    if len(runs) < 2:
        raise ConfigError(f"An ensemble needs at least 2 runs, got {len(runs)}.")
    out = Path(out)
    if out.exists() and not overwrite:
        raise RunError(f"Output directory '{out}' already exists; choose another --out or pass --overwrite.")
    members = [Run.load(run) for run in runs]
    for member in members[1:]:
        if member.labels != members[0].labels or member.task.name != members[0].task.name:
            raise DataError(
                f"Runs '{members[0].path}' and '{member.path}' have different labels "
                f"({members[0].task.name} {members[0].labels} vs {member.task.name} {member.labels}); "
                "ensemble runs trained on the same task and classes."
            )
        if (member.config.text_pair_col is None) != (members[0].config.text_pair_col is None):
            raise DataError(
                f"Runs '{members[0].path}' and '{member.path}' differ in "
                "reading sentence pairs; ensemble runs with the same inputs."
            )

    record = RunRecord(members=[_member(m) for m in members])
    labels = members[0].labels
    staging = staging_dir(out)
    if data is not None:
        predictor = EnsemblePredictor([m.predictor for m in members])
        table = file_table(data, encoding, delimiter) if is_path(data) else memory_table(data)
        labelled = prepare_labelled(members[0].config, table, predictor.task, text_col, label_col)
        record["test"] = score(predictor.task, predictor.outputs(labelled.inputs()), labelled)
        if "confusion_matrix" in record["test"]:
            plot_confusion_matrix(
                record["test"]["confusion_matrix"],
                labels,
                staging / "confusion_matrix.png",
                f"Ensemble on {Path(data).name if is_path(data) else table.source}: confusion matrix",
            )

    names = []
    for number, member in enumerate(members):
        names.append(f"members/{number}")
        shutil.copytree(member.path, staging / names[-1], ignore=shutil.ignore_patterns("evaluations"))
    write_text_atomic(
        staging / ENSEMBLE_FILE, json.dumps({"combine": "mean-probabilities", "members": names}, indent=2)
    )
    write_text_atomic(staging / LABELS_FILE, json.dumps(labels))
    write_record(staging, record)
    members[0].config.save_yaml(staging / CONFIG_FILE)
    replace_dir(staging, out)
    return Run.load(out)


def _member(run: Run) -> MemberRecord:
    test = {name: value for name, value in run.metrics.get("test", {}).items() if isinstance(value, float)}
    return MemberRecord(
        run=str(run.path),
        model=run.config.model,
        strategy=run.config.strategy,
        seed=run.config.seed,
        test=test,
    )
