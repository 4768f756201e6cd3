"""`headstart tune`: hyper-parameter search with two objectives, the task's main dev metric (up;
macro-F1 for classes, Spearman for regression, entity F1 for NER) and single-text latency (down),
reported as a Pareto front rather than one "best" trial.

Optuna samples each trial (multi-objective TPE); every trial is an ordinary run directory under
<out>/trials/, trained on one fixed split. The study lives in a journal file, <out>/study.journal,
which several processes on one machine can share safely: `--workers N` starts them, and running the
same command again continues the study up to the requested number of finished trials. With the
optional `ray` extra, `--backend ray` runs the same trials as Ray Tune jobs, on one machine or on a
Ray cluster (`--ray-address`), with Optuna still choosing the trials.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.api import train
from headstart.config import TrainConfig
from headstart.data.io import write_table_atomic
from headstart.errors import ConfigError
from headstart.evaluation.plots import plot_tuning
from headstart.extras import optional
from headstart.files import exclusive, write_text_atomic
from headstart.progress import info, progress_bar, quiet_libraries, set_quiet
from headstart.reports.comparison import markdown_table
from headstart.strategies import make_strategy
from headstart.workflows.compare import fixed_split, pareto_front
from headstart.workflows.long_jobs import check_options, die_with_parent, record_options, sigterm_as_interrupt

OBJECTIVES = ("dev_score", "latency_ms_p50")
STUDY_NAME = "headstart"
STRATEGY_PREFIX = "option."  # trial parameters that are strategy options, not TrainConfig fields


def suggest(trial: Any, strategy: str, max_lengths: list[int]) -> dict[str, Any]:
    """Draw one trial's settings: truncation length always (it sets latency), the optimiser's knobs
    for strategies that train by gradient steps, and the strategy's own search space."""
    chosen = make_strategy(strategy)
    trial.suggest_categorical("max_length", max_lengths)
    if chosen.default_lr is not None:
        trial.suggest_float("lr", chosen.default_lr / 10, chosen.default_lr * 10, log=True)
        trial.suggest_int("epochs", 2, 5)
        trial.suggest_categorical("batch_size", [8, 16, 32])
    fixed = {}
    for name, value in chosen.search_space(_Prefixed(trial)).items():
        if f"{STRATEGY_PREFIX}{name}" not in trial.params:
            fixed[f"{STRATEGY_PREFIX}{name}"] = value  # derived from drawn values (e.g. LoRA alpha = 2r)
    return fixed


class _Prefixed:
    """An Optuna trial whose parameter names get the strategy-option prefix."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def __getattr__(self, method: str) -> Any:
        suggest_method = getattr(self.trial, method)
        return lambda name, *args, **kwargs: suggest_method(f"{STRATEGY_PREFIX}{name}", *args, **kwargs)


def run_trial(base: TrainConfig, params: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Train one trial's run; returns its objectives and test scores."""
    options = {k: v for k, v in params.items() if not k.startswith(STRATEGY_PREFIX)}
    strategy_options = {
        k.removeprefix(STRATEGY_PREFIX): v for k, v in params.items() if k.startswith(STRATEGY_PREFIX)
    }
    config = base.replace(**options, strategy_options={**base.strategy_options, **strategy_options})
    metrics = train(out=run_dir, config=config, overwrite=True).metrics
    return {
        "dev_score": metrics["best_dev_score"],
        "latency_ms_p50": metrics["cost"]["latency_ms_p50"],
        "test_score": metrics["test"][metrics["dev_metric"]],
        "metric": metrics["dev_metric"],
        "run": str(run_dir),
    }


def tune(
    data: str | Path | None = None,
    *,
    out: str | Path,
    strategy: str,
    trials: int = 20,
    workers: int = 1,
    max_lengths: tuple[int, ...] = (64, 128, 256),
    backend: str = "optuna",
    ray_address: str | None = None,
    dataset: str | None = None,
    strategy_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Search `strategy`'s settings; write trials.csv, pareto.csv/.md and pareto.png; return the front.

    A rerun into the same `out` continues the study (trials a killed process left unfinished run
    again); with other options it is refused, unless `overwrite` starts it over.

    Scores are the task's main metric (its name is in the `metric` column).

    `strategy_options` are fixed options of the strategy; the searched ones are drawn on top.
    """
    _check_search(trials, workers, backend, max_lengths)
    strategy_object = make_strategy(strategy, strategy_options)
    out = Path(out)
    config = TrainConfig(
        data=None if data is None else str(data),
        dataset=dataset,
        strategy=strategy,
        strategy_options=strategy_options or {},
        **options,
    )
    # The number of trials may grow and workers may change; what each trial trains may not.
    searched = {**config.to_dict(), "max_lengths": list(max_lengths), "backend": backend}
    with exclusive(out), sigterm_as_interrupt():
        check_options(out, "search of strategy '{strategy}'", searched, overwrite)
        base = fixed_split(config, out / "data", tuple(strategy_object.extra_label_columns()))
        record_options(out, searched)
        search = {
            "base": base.to_dict(),
            "strategy": strategy,
            "max_lengths": list(max_lengths),
            "out": str(out),
        }
        if backend == "ray":
            results = _tune_with_ray(search, trials, workers, ray_address)
        else:
            study = _study(out, strategy, base.seed)
            retry_interrupted(study)
            if workers == 1:
                _optimise(search, trials)
            else:
                _in_processes(search, trials, workers, study)
            results = _finished_trials(study)
        return _report(results, out)


def _check_search(trials: int, workers: int, backend: str, max_lengths: tuple[int, ...]) -> None:
    if trials < 1 or workers < 1:
        raise ConfigError(f"--trials and --workers must be at least 1, got {trials} and {workers}.")
    if backend not in ("optuna", "ray"):
        raise ConfigError(f"--backend must be 'optuna' or 'ray', got '{backend}'.")
    if not max_lengths or min(max_lengths) < 8:
        raise ConfigError(f"--max-lengths needs token lengths of at least 8, got {list(max_lengths)}.")


def retry_interrupted(study: Any) -> list[int]:
    """Trials left RUNNING by a killed process (no process runs this study now: the caller holds
    the folder) are marked FAIL, and their drawn settings queued to run first; their numbers."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    if stale:
        info(f"Retrying {len(stale)} trial(s) interrupted before: {[t.number for t in stale]}")
    return [trial.number for trial in stale]


def _study(out: Path, strategy: str, seed: int) -> Any:  # an optuna Study
    with optional("headstart tune"):
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(out / "study.journal")))
    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=storage,
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=seed),
        load_if_exists=True,
    )
    known = study.user_attrs.get("strategy")
    if known is None:
        study.set_user_attr("strategy", strategy)
    elif known != strategy:
        raise ConfigError(
            f"'{out}' holds a search of strategy '{known}'; use another --out for '{strategy}'."
        )
    return study


def _optimise(search: dict[str, Any], trials: int, worker: int = 0) -> None:
    """Run trials in this process until the study has `trials` finished ones (shared with other workers)."""
    with optional("headstart tune"):
        import optuna
        from optuna.study import MaxTrialsCallback
        from optuna.trial import TrialState

    out, strategy = Path(search["out"]), search["strategy"]
    base = TrainConfig.from_dict(search["base"])
    # Each worker seeds its sampler differently, or all would draw the same first trials.
    study = _study(out, strategy, base.seed + worker)
    done = (TrialState.COMPLETE,)
    if len(study.get_trials(deepcopy=False, states=done)) >= trials:
        return

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        fixed = suggest(trial, strategy, search["max_lengths"])
        info(f"Trial {trial.number}: {trial.params}")
        result = run_trial(base, {**trial.params, **fixed}, out / "trials" / f"trial-{trial.number:03d}")
        for key in ("test_score", "metric", "run"):
            trial.set_user_attr(key, result[key])
        return result["dev_score"], result["latency_ms_p50"]

    study.optimize(objective, callbacks=[MaxTrialsCallback(trials, states=done)])


def _worker(search: dict[str, Any], trials: int, threads: int, worker: int) -> None:
    import torch

    die_with_parent()
    torch.set_num_threads(threads)  # workers share the cores instead of fighting over them
    quiet_libraries()
    set_quiet(True)  # several workers' bars would interleave; the parent shows one bar of finished trials
    _optimise(search, trials, worker)


def _in_processes(search: dict[str, Any], trials: int, workers: int, study: Any) -> None:
    from optuna.trial import TrialState

    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch threads or locks inherited
    processes = [
        context.Process(target=_worker, args=(search, trials, threads, worker)) for worker in range(workers)
    ]
    try:
        for process in processes:
            process.start()
        with progress_bar(f"Trials ({workers} workers)", total=trials) as bar:
            while any(process.is_alive() for process in processes):
                time.sleep(2)
                done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
                bar.update(completed=min(done, trials))
    finally:  # also on Ctrl-C or SIGTERM: no worker outlives the command
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            if process.pid is not None:
                process.join()
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise ConfigError(
            f"{len(failed)} of {workers} tuning workers failed (exit "
            f"codes {failed}); rerun with --workers 1 to see why."
        )


def _finished_trials(study: Any) -> pd.DataFrame:
    from optuna.trial import TrialState

    rows = [
        {
            "trial": t.number,
            "dev_score": t.values[0],
            "latency_ms_p50": t.values[1],
            **t.user_attrs,
            **{f"param {k}": v for k, v in t.params.items()},
        }
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ]
    return pd.DataFrame(rows).drop(columns=["strategy"], errors="ignore")


def _tune_with_ray(search: dict[str, Any], trials: int, workers: int, address: str | None) -> pd.DataFrame:
    with optional("headstart tune --backend ray"):
        import ray
        from ray import tune as ray_tune

    base = TrainConfig.from_dict(search["base"])
    out = Path(search["out"]).resolve()
    cpus = max(1, (os.cpu_count() or 1) // workers)
    # Ray saves the searcher with plain pickle: the search space must be a module-level function.
    space = functools.partial(suggest, strategy=search["strategy"], max_lengths=search["max_lengths"])

    def trainable(params: dict[str, Any]) -> None:
        import torch

        torch.set_num_threads(cpus)
        quiet_libraries()
        run_dir = out / "trials" / f"ray-{ray_tune.get_context().get_trial_id()}"
        ray_tune.report(run_trial(base, params, run_dir))

    ray.init(
        address=address,
        ignore_reinit_error=True,
        include_dashboard=False,
        log_to_driver=False,
        num_cpus=None if address else os.cpu_count(),
    )
    try:
        tuner = _ray_tuner(
            ray_tune.with_resources(trainable, {"cpu": cpus}), out, space, base.seed, trials, workers
        )
        frame = tuner.fit().get_dataframe()
    finally:
        ray.shutdown()
    params = {c: f"param {c.removeprefix('config/')}" for c in frame.columns if c.startswith("config/")}
    frame = frame.rename(columns=params).reset_index(drop=True)
    frame.insert(0, "trial", range(len(frame)))
    return frame[["trial", *OBJECTIVES, "test_score", "metric", "run", *params.values()]]


def _ray_tuner(trainable: Any, out: Path, space: Any, seed: int, trials: int, workers: int) -> Any:
    """A new Ray Tune experiment in <out>/ray, or the one there restored: its finished trials stay,
    unfinished and errored ones run again."""
    from ray import tune as ray_tune
    from ray.tune.search.optuna import OptunaSearch

    experiment = out / "ray" / "headstart"
    if ray_tune.Tuner.can_restore(str(experiment)):
        info(f"Resuming the Ray Tune experiment in {experiment}")
        return ray_tune.Tuner.restore(str(experiment), trainable, restart_errored=True)
    return ray_tune.Tuner(
        trainable,
        tune_config=ray_tune.TuneConfig(
            search_alg=OptunaSearch(space, metric=list(OBJECTIVES), mode=["max", "min"], seed=seed),
            num_samples=trials,
            max_concurrent_trials=workers,
        ),
        run_config=ray_tune.RunConfig(name="headstart", storage_path=str(out / "ray"), verbose=0),
    )


def _report(results: pd.DataFrame, out: Path) -> pd.DataFrame:
    if results.empty:
        raise ConfigError(f"No trial of the search in '{out}' finished; see the errors above.")
    results = results.sort_values("trial").reset_index(drop=True)
    # Maximising F1 and minimising latency: pareto_front takes (quality, cost).
    results["pareto"] = pareto_front(results["dev_score"].to_numpy(), results["latency_ms_p50"].to_numpy())
    front = results[results.pareto].sort_values("latency_ms_p50").reset_index(drop=True)
    write_table_atomic(results, out / "trials.csv")
    write_table_atomic(front, out / "pareto.csv")
    write_text_atomic(
        out / "pareto.md",
        markdown_table(
            front_rows(front),
            f"Pareto front of dev {results['metric'][0]} (higher) against single-text latency (lower).",
        ),
    )
    plot_tuning(results, out / "pareto.png")
    return front


def front_rows(front: pd.DataFrame) -> list[dict[str, str]]:
    """The Pareto front as people read it (terminal and Markdown)."""
    params = [c for c in front.columns if c.startswith("param ")]
    return [
        {
            "trial": str(row["trial"]),
            "dev score": f"{row['dev_score']:.3f}",
            "latency p50 ms": f"{row['latency_ms_p50']:.1f}",
            "test score": f"{row['test_score']:.3f}",
            **{
                c.removeprefix("param "): f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c])
                for c in params
            },
        }
        for row in front.to_dict("records")
    ]
