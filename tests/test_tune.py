"""`headstart tune`: Optuna multi-objective search (dev macro-F1 up, latency down), resumable,
in parallel processes through the study journal, and through Ray Tune when ray is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

import headstart
from headstart.cli import main
from headstart.workflows.tune import tune

TINY = {"batch_size": 8, "patience": 0, "refit": "no", "checkpoint_every": 0, "warmup_ratio": 0.0}


def check_outputs(out: Path, trials: int) -> pd.DataFrame:
    table = pd.read_csv(out / "trials.csv")
    assert len(table) >= trials and table["trial"].is_unique and table["run"].is_unique
    front = table[table.pareto]
    assert not front.empty
    for row in front.itertuples():  # nothing in the table beats a front trial on both objectives
        assert not (
            (table.dev_score >= row.dev_score)
            & (table.latency_ms_p50 <= row.latency_ms_p50)
            & ((table.dev_score > row.dev_score) | (table.latency_ms_p50 < row.latency_ms_p50))
        ).any()
    assert len(pd.read_csv(out / "pareto.csv")) == len(front)
    assert (out / "pareto.png").stat().st_size > 5_000 and "dev score" in (out / "pareto.md").read_text()
    assert all((Path(run) / "metrics.json").is_file() for run in table["run"])
    return table


def test_tune_writes_the_pareto_front_and_continues_a_study(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    out = tmp_path / "search"
    front = tune(toy_csv, out=out, strategy="lora", trials=3, max_lengths=(16, 32), model=tiny_model, **TINY)
    table = check_outputs(out, 3)
    assert len(table) == 3 and len(front) == int(table.pareto.sum())
    assert set(table["param max_length"]) <= {16, 32} and "param option.r" in table
    assert (table["param lr"].between(1e-4, 1e-2)).all()  # around LoRA's own rate
    tune(toy_csv, out=out, strategy="lora", trials=4, max_lengths=(16, 32), model=tiny_model, **TINY)
    assert len(pd.read_csv(out / "trials.csv")) == 4  # three kept, one more run

    with pytest.raises(headstart.ConfigError, match="holds a search of strategy 'lora'"):
        tune(toy_csv, out=out, strategy="bitfit", trials=1, model=tiny_model, **TINY)


def test_tune_runs_trials_in_parallel_processes(toy_csv: Path, tiny_model: str, tmp_path: Path) -> None:
    out = tmp_path / "parallel"
    tune(
        toy_csv,
        out=out,
        strategy="bitfit",
        trials=4,
        workers=2,
        max_lengths=(16, 32),
        model=tiny_model,
        **TINY,
    )
    table = check_outputs(out, 4)
    assert table["param lr"].is_unique, "workers must not draw the same trials"


def test_tune_cli_and_its_errors(
    toy_csv: Path, tiny_model: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "tune",
                str(toy_csv),
                "--strategy",
                "features",
                "--trials",
                "2",
                "--max-lengths",
                "16,32",
                "--model",
                tiny_model,
                "--out",
                str(tmp_path / "cli"),
                "--quiet",
            ]
        )
    assert stop.value.code == 0
    assert "Pareto front" in capsys.readouterr().out
    for argv, message in (
        (["--max-lengths", "short"], "comma-separated integers"),
        (["--backend", "spark"], "'optuna' or 'ray'"),
        (["--strategy", "nope"], "Unknown strategy"),
        (["--trials", "0"], "at least 1"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(["tune", str(toy_csv), "--out", str(tmp_path / "bad"), *argv])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'headstart[ray]')"
)
def test_tune_through_ray_tune(toy_csv: Path, tiny_model: str, tmp_path: Path) -> None:
    out = tmp_path / "ray"
    tune(
        toy_csv,
        out=out,
        strategy="lora",
        trials=2,
        workers=2,
        backend="ray",
        max_lengths=(16, 32),
        model=tiny_model,
        **TINY,
    )
    table = check_outputs(out, 2)
    assert len(table) == 2 and table["run"].str.contains("ray-").all()
    # A rerun restores the experiment from <out>/ray: its finished trials are kept, none run again.
    again = {"strategy": "lora", "trials": 2, "workers": 2, "backend": "ray", "max_lengths": (16, 32)}
    tune(toy_csv, out=out, model=tiny_model, **again, **TINY)
    assert sorted(pd.read_csv(out / "trials.csv")["run"]) == sorted(table["run"])
