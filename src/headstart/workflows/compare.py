"""`headstart compare`: models × strategies × seeds on one fixed split, accuracy against cost.

Every cell is an ordinary run directory under <out>/runs/, so the grid resumes by skipping
finished cells (and continuing an interrupted one from its checkpoint). All cells share one
seeded train/dev/test split, written once to <out>/data/, so seeds vary only the training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.api import train
from headstart.config import TrainConfig
from headstart.data.dataset import SOFT_COLUMN
from headstart.data.io import write_table_atomic
from headstart.data.labelled import LabelledTexts
from headstart.errors import ConfigError
from headstart.files import exclusive, write_text_atomic
from headstart.preparation import prepare_splits
from headstart.progress import info
from headstart.record import CONFIG_FILE, METRICS_FILE, RunRecord, read_record
from headstart.reports.comparison import write_comparison
from headstart.strategies import make_strategy
from headstart.workflows.embedding_map import embedding_map
from headstart.workflows.long_jobs import check_options, grid_options, record_options, sigterm_as_interrupt

# The two quality columns of a task's leaderboard; the second is its main metric, which ranks.
QUALITY = {
    "classification": ("accuracy", "macro_f1"),
    "multi-label": ("micro_f1", "macro_f1"),
    "regression": ("pearson", "spearman"),
    "ner": ("macro_f1", "f1"),
}
COST_COLUMNS = (
    "train_seconds",
    "latency_ms_p50",
    "batch_texts_per_second",
    "model_size_bytes",
    "parameters_trainable",
)


def cell_name(model: str, strategy: str, seed: int) -> str:
    """The folder name of one (model, strategy, seed) cell."""
    return f"{model.strip('/').replace('/', '__')}--{strategy}--seed{seed}"


def compare(
    data: str | Path | None = None,
    *,
    out: str | Path,
    models: list[str],
    strategies: list[str],
    seeds: int = 3,
    dataset: str | None = None,
    strategy_options: dict[str, dict[str, Any]] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Train every (model, strategy, seed) cell not yet done; write and return the leaderboard.

    `strategy_options` maps a strategy name to its options, e.g. {"lora": {"r": 16}}. A rerun into
    the same `out` resumes; with other options it is refused, unless `overwrite` starts it over.
    """
    if not models or not strategies:
        raise ConfigError("compare needs at least one model (--models) and one strategy (--strategies).")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}.")
    strategy_options = strategy_options or {}
    unused = sorted(set(strategy_options) - set(strategies))
    if unused:
        raise ConfigError(f"Options given for {unused}, which are not among --strategies {strategies}.")
    # Fail on a typo before hours of training; keep the label columns any strategy needs.
    extra_cols = sorted(
        {
            column
            for strategy in strategies
            for column in make_strategy(strategy, strategy_options.get(strategy)).extra_label_columns()
        }
    )
    out = Path(out)
    config = TrainConfig(data=None if data is None else str(data), dataset=dataset, **options)
    with exclusive(out), sigterm_as_interrupt():
        shared = grid_options(config, strategy_options)
        check_options(out, "comparison", shared, overwrite)
        base = fixed_split(config, out / "data", tuple(extra_cols))
        record_options(out, shared)
        return _run_grid(base, out, models, strategies, seeds, strategy_options)


def _run_grid(
    base: TrainConfig,
    out: Path,
    models: list[str],
    strategies: list[str],
    seeds: int,
    strategy_options: dict[str, dict[str, Any]],
) -> pd.DataFrame:
    assert base.task is not None  # fixed_split records the task
    quality = QUALITY[base.task]
    rows = []
    cells = [(m, s, seed) for m in models for s in strategies for seed in range(base.seed, base.seed + seeds)]
    for number, (model, strategy, seed) in enumerate(cells, start=1):
        run_dir = out / "runs" / cell_name(model, strategy, seed)
        info(f"[{number}/{len(cells)}] {run_dir.name}")
        config = base.replace(
            model=model, strategy=strategy, seed=seed, strategy_options=strategy_options.get(strategy, {})
        )
        rows.append(_row(cell_record(run_dir, config), run_dir, model, strategy, seed, quality))
    runs = pd.DataFrame(rows)
    board = leaderboard(runs, quality)
    maps = draw_maps(out, runs, base.test_data) if base.task == "classification" else []
    write_comparison(out, runs, board, maps)
    return board


def draw_maps(out: Path, runs: pd.DataFrame, test_file: str | None) -> list[str]:
    """A map of the test texts for each (model, strategy) at its first seed, drawn once; the
    pages' paths relative to `out`."""
    assert test_file is not None  # fixed_split writes the test split
    pages = []
    for run in runs.drop_duplicates(["model", "strategy"])["run"]:
        page = out / "maps" / f"{Path(run).name}.html"
        if not page.is_file():
            page.parent.mkdir(exist_ok=True)
            embedding_map(run, test_file, page, show_progress=False)
        pages.append(page.relative_to(out).as_posix())
    return pages


def cell_record(run_dir: Path, config: TrainConfig) -> RunRecord:
    """A cell's record: read when the run is done, else trained (continuing an interrupted run)."""
    if (run_dir / METRICS_FILE).is_file():  # a run folder only appears once complete
        info(f"{run_dir.name}: done before, skipped")
        return read_record(run_dir)
    resume = (run_dir.parent / f".{run_dir.name}.partial" / CONFIG_FILE).is_file()
    try:
        return train(out=run_dir, config=config, resume=resume, overwrite=True).metrics
    except ConfigError:  # the interrupted cell had other options: start it over
        return train(out=run_dir, config=config, overwrite=True).metrics


def fixed_split(config: TrainConfig, folder: Path, extra_cols: tuple[str, ...] = ()) -> TrainConfig:
    """Write the split once as text/label files (plus any extra label columns) and return `config`
    pointed at them, so every run of a grid or a search sees the same train/dev/test texts."""
    files = {name: folder / f"{name}.csv" for name in ("train", "dev", "test")}
    facts_file = folder / "split.json"  # what the files hold, so a rerun need not load the data again
    if not facts_file.is_file() or not all(path.is_file() for path in files.values()):
        splits = prepare_splits(config, extra_cols)
        for name in files:
            write_table_atomic(_split_table(getattr(splits, name), splits.task), files[name])
        write_text_atomic(facts_file, json.dumps({"task": splits.task, "pairs": splits.pair_col is not None}))
    facts = json.loads(facts_file.read_text(encoding="utf-8"))
    return config.replace(
        data=str(files["train"]),
        dataset=None,
        dev_data=str(files["dev"]),
        test_data=str(files["test"]),
        text_col="text",
        label_col="label",
        text_pair_col="text_pair" if facts["pairs"] else None,
        task=facts["task"],
        label_cols=None,
        sample=None,
        annotations=None,
    )


def _split_table(part: LabelledTexts, task: str) -> pd.DataFrame:
    """A split as a table the readers give back unchanged: label sets and tags as JSON lists."""
    if task == "ner":
        assert part.words is not None  # NER rows carry their words
        return pd.DataFrame(
            {
                "tokens": [json.dumps(words, ensure_ascii=False) for words in part.words],
                "tags": [json.dumps(list(tags)) for tags in part.labels],
            }
        )
    labels = (
        [json.dumps(list(row), ensure_ascii=False) for row in part.labels]
        if task == "multi-label"
        else part.labels
    )
    pairs = {} if part.pairs is None else {"text_pair": part.pairs}
    soft = {} if part.soft is None else {SOFT_COLUMN: [json.dumps(row) for row in part.soft]}
    return pd.DataFrame({**part.extra, "text": part.texts, **pairs, "label": labels, **soft})


def _row(
    metrics: RunRecord, run_dir: Path, model: str, strategy: str, seed: int, quality: tuple[str, str]
) -> dict[str, Any]:
    test, cost = metrics["test"], metrics["cost"]
    return {
        "model": model,
        "strategy": strategy,
        "seed": seed,
        "run": str(run_dir),
        **{name: test[name] for name in quality},
        **{name: dict(cost)[name] for name in COST_COLUMNS},
    }


def leaderboard(runs: pd.DataFrame, quality: tuple[str, str] = QUALITY["classification"]) -> pd.DataFrame:
    """One row per (model, strategy): mean and std over seeds of the two `quality` metrics, the best
    on the second (the task's main metric) first, Pareto front (that metric against latency) marked."""
    grouped = runs.groupby(["model", "strategy"], sort=False)
    board = (
        grouped.agg(
            seeds=("seed", "count"),
            **{f"{name}_{stat}": (name, stat) for name in quality for stat in ("mean", "std")},
            **{f"{name}": (name, "mean") for name in COST_COLUMNS},
        )
        .reset_index()
        .fillna({f"{name}_std": 0.0 for name in quality})
    )
    ranking = f"{quality[1]}_mean"
    board["pareto"] = pareto_front(board[ranking].to_numpy(), board["latency_ms_p50"].to_numpy())
    return board.sort_values(ranking, ascending=False).reset_index(drop=True)


def pareto_front(quality: np.ndarray, cost: np.ndarray) -> list[bool]:
    """True where no other point is at least as good in both and better in one (higher quality,
    lower cost)."""
    front = []
    for i in range(len(quality)):
        dominated = any(
            quality[j] >= quality[i] and cost[j] <= cost[i] and (quality[j] > quality[i] or cost[j] < cost[i])
            for j in range(len(quality))
            if j != i
        )
        front.append(not dominated)
    return front
