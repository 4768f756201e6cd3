"""`headstart learning-curve`: quality against the number of labelled examples, per strategy.

All runs share one seeded train/dev/test split (written once to <out>/data/); a run at size N
trains on a stratified N-example sample of the train split, drawn with its seed, and is tested on
the whole test split. Finished runs are skipped on a rerun, as in `compare`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from headstart.api import train
from headstart.config import TrainConfig
from headstart.data.io import write_table_atomic
from headstart.errors import ConfigError
from headstart.evaluation.plots import plot_curves
from headstart.files import exclusive, write_text_atomic
from headstart.progress import info
from headstart.record import METRICS_FILE, read_record
from headstart.tasks.metrics import METRIC_NAMES
from headstart.workflows.compare import QUALITY, fixed_split
from headstart.workflows.long_jobs import check_options, grid_options, record_options, sigterm_as_interrupt

TARGETS = (0.9, 0.95, 0.98)  # "labels needed for this share of full-data quality"
NO_TRAINING = {"zero-shot"}  # strategies that use no labels: one point, drawn as a reference line


def parse_sizes(text: str) -> list[int | None]:
    """'8,16,32,all' → [8, 16, 32, None] (None: the whole train split)."""
    sizes: list[int | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part.lower() == "all":
            sizes.append(None)
        elif part.isdigit() and int(part) >= 2:
            sizes.append(int(part))
        else:
            raise ConfigError(
                f"--sizes takes whole numbers of at least 2 or 'all', separated by commas; got '{part}'."
            )
    if not sizes:
        raise ConfigError("--sizes is empty; give e.g. 8,16,32,64,all.")
    return sizes


def learning_curve(
    data: str | Path | None = None,
    *,
    out: str | Path,
    sizes: list[int | None],
    strategies: list[str],
    seeds: int = 3,
    dataset: str | None = None,
    strategy_options: dict[str, dict[str, Any]] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Train every (strategy, size, seed) not yet done; write runs.csv, curve.csv/.md/.png; return
    the curve. A rerun into the same `out` resumes; with other options it is refused, unless
    `overwrite` starts it over."""
    if not strategies or seeds < 1:
        raise ConfigError("learning-curve needs at least one strategy and --seeds of at least 1.")
    out, strategy_options = Path(out), strategy_options or {}
    config = TrainConfig(data=None if data is None else str(data), dataset=dataset, **options)
    with exclusive(out), sigterm_as_interrupt():
        shared = grid_options(config, strategy_options)
        check_options(out, "learning curve", shared, overwrite)
        base = fixed_split(config, out / "data")
        record_options(out, shared)
        return _run_curve(base, out, sizes, strategies, seeds, strategy_options)


def _run_curve(
    base: TrainConfig,
    out: Path,
    sizes: list[int | None],
    strategies: list[str],
    seeds: int,
    strategy_options: dict[str, dict[str, Any]],
) -> pd.DataFrame:
    assert base.task is not None  # fixed_split records the task
    metric = QUALITY[base.task][1]
    cells = [
        (strategy, None if strategy in NO_TRAINING else size, seed)
        for strategy in strategies
        for size in (sizes if strategy not in NO_TRAINING else [None])
        for seed in range(base.seed, base.seed + (1 if strategy in NO_TRAINING else seeds))
    ]
    rows = []
    for number, (strategy, size, seed) in enumerate(cells, start=1):
        run_dir = out / "runs" / f"{strategy}--n{size or 'all'}--seed{seed}"
        if (run_dir / METRICS_FILE).is_file():
            metrics = read_record(run_dir)
        else:
            info(f"[{number}/{len(cells)}] {run_dir.name}")
            config = base.replace(
                strategy=strategy,
                seed=seed,
                train_size=size,
                strategy_options=strategy_options.get(strategy, {}),
            )
            metrics = train(out=run_dir, config=config, overwrite=True).metrics
        labels = 0 if strategy in NO_TRAINING else metrics["data"]["train"]
        rows.append(
            {
                "strategy": strategy,
                "size": labels,
                "seed": seed,
                metric: metrics["test"][metric],
                "accuracy": metrics["test"].get("accuracy"),
                "train_seconds": metrics["cost"]["train_seconds"],
            }
        )
    runs = pd.DataFrame(rows)
    curve = runs.groupby(["strategy", "size"], sort=False)[metric].agg(["mean", "std", "count"]).reset_index()
    write_curve(out, runs, curve, metric)
    return curve


def labels_needed(curve: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: the fewest labels whose mean reaches each target share of its full-data mean."""
    rows = []
    for strategy, part in curve[curve["size"] > 0].groupby("strategy", sort=False):
        part = part.sort_values("size")
        full = part["mean"].iloc[-1]
        row = {"strategy": strategy, "full_data_labels": int(part["size"].iloc[-1]), "full_data": full}
        for target in TARGETS:
            reached = part[part["mean"] >= target * full]
            row[f"labels_for_{round(100 * target)}pct"] = (
                int(reached["size"].iloc[0]) if len(reached) else None
            )
        rows.append(row)
    return pd.DataFrame(rows)


def write_curve(out: Path, runs: pd.DataFrame, curve: pd.DataFrame, metric: str) -> None:
    """runs.csv, curve.csv, curve.md (with the labels needed per target) and curve.png."""
    write_table_atomic(runs, out / "runs.csv")
    write_table_atomic(curve, out / "curve.csv")
    needed = labels_needed(curve)
    name = METRIC_NAMES.get(metric, metric)
    lines = [f"| strategy | labelled examples | {name} (mean ± std) | runs |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {r.strategy} | {r.size} | {r.mean:.4f} ± {0 if pd.isna(r.std) else r.std:.4f} | {r.count} |"
        for r in curve.itertuples()
    ]
    lines += [
        "",
        "| strategy | full data | " + " | ".join(f"labels for {round(100 * t)} %" for t in TARGETS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in TARGETS) + " |",
    ]
    lines += [
        f"| {r['strategy']} | {r['full_data']:.4f} ({r['full_data_labels']}) | "
        + " | ".join(str(r[f"labels_for_{round(100 * t)}pct"]) for t in TARGETS)
        + " |"
        for r in needed.to_dict("records")
    ]
    write_text_atomic(out / "curve.md", "\n".join(lines) + "\n")
    trained = curve[curve["size"] > 0]
    references = {
        f"{s} (no labels)": m
        for s, m in curve[curve["size"] == 0][["strategy", "mean"]].itertuples(index=False)
    }
    plot_curves(
        trained.rename(columns={"strategy": "series", "size": "x"}),
        out / "curve.png",
        title="Learning curve: test quality against labelled examples (mean ± std over seeds)",
        xlabel="labelled training examples",
        ylabel=f"test {name}",
        lines=references,
    )
