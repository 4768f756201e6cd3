"""Long jobs you can kill: one writer per --out, reruns refused when their options differ, stale
trials retried, and tune's workers stopped with their parent (SIGTERM, Ctrl-C or kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from headstart.cli import main
from headstart.files import exclusive
from headstart.workflows.long_jobs import record_options
from headstart.workflows.tune import retry_interrupted

TINY = ["--epochs", "1", "--batch-size", "8", "--patience", "0", "--refit", "no", "--checkpoint-every", "0"]


def cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--quiet"])
    return int(stop.value.code or 0)


def test_a_rerun_with_other_options_is_refused_naming_them(
    toy_csv: Path, tiny_model: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cmp"
    grid = ["compare", str(toy_csv), "--models", tiny_model, "--strategies", "features", "--out", str(out)]
    assert cli([*grid, "--seeds", "1", *TINY]) == 0
    finished = (out / "runs").stat().st_mtime_ns
    capsys.readouterr()
    assert cli([*grid, "--seeds", "1", *TINY, "--max-length", "24", "--lr", "0.01"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "other lr, max_length" in err and "--overwrite" in err
    assert cli([*grid, "--seeds", "2", *TINY]) == 0  # the grid may grow: one more seed, the first kept
    assert len(list((out / "runs").iterdir())) == 2
    assert cli([*grid, "--seeds", "1", *TINY, "--max-length", "24", "--overwrite"]) == 0
    assert len(list((out / "runs").iterdir())) == 1 and (out / "runs").stat().st_mtime_ns != finished


@pytest.mark.parametrize(
    ("command", "job"),
    [
        (["tune", "--strategy", "bitfit", "--trials", "1"], "search of strategy 'bitfit'"),
        (["learning-curve", "--strategies", "features", "--sizes", "8"], "learning curve"),
    ],
)
def test_tune_and_learning_curve_refuse_other_options_before_any_work(
    command: list[str], job: str, toy_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "job"
    record_options(out, {"strategy": "bitfit", "seed": 9})
    assert cli([command[0], str(toy_csv), *command[1:], "--out", str(out), "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert f"holds a {job} made with other" in err and "seed" in err
    assert sorted(p.name for p in out.iterdir()) == ["options.json"]  # nothing was trained or split


def test_one_writer_per_out(
    toy_csv: Path, tiny_model: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    with exclusive(out):  # another process at work on the same --out
        code = cli(
            ["train", str(toy_csv), "--model", tiny_model, "--strategy", "features", "--out", str(out)]
        )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "Another headstart process is writing" in err
    assert (
        not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []
    )  # nothing left, lock included
    assert (
        cli(
            ["train", str(toy_csv), "--model", tiny_model, "--strategy", "features", "--out", str(out), *TINY]
        )
        == 0
    )
    assert (out / "metrics.json").is_file()


def test_a_lock_dies_with_its_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from headstart.files import exclusive; import pathlib, sys, time\n"
            "with exclusive(pathlib.Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(Exception, match="Another headstart process"), exclusive(tmp_path / "out"):
        pass
    holder.kill()  # kill -9: no clean-up ran, the kernel released the flock
    holder.wait()
    with exclusive(tmp_path / "out"):
        pass


def test_stale_running_trials_are_failed_and_run_again(tmp_path: Path) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "study.journal")))
    study = optuna.create_study(storage=storage, directions=["maximize", "minimize"])
    killed = study.ask()  # a worker drew its settings, then was killed mid-trial
    killed.suggest_float("lr", 1e-5, 1e-3, log=True)
    assert retry_interrupted(study) == [killed.number]
    assert study.trials[killed.number].state == TrialState.FAIL
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [trial.system_attrs["fixed_params"] for trial in waiting] == [study.trials[killed.number].params]
    assert retry_interrupted(study) == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])  # SIGINT takes the path Ctrl-C takes
def test_tune_workers_end_with_their_parent(
    stop: signal.Signals, toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    command = [
        sys.executable,
        "-m",
        "headstart",
        "tune",
        str(toy_csv),
        "--model",
        tiny_model,
        "--strategy",
        "bitfit",
        "--trials",
        "50",
        "--workers",
        "2",
        "--out",
        str(tmp_path / "t"),
        "--quiet",
    ]
    parent = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    workers: list[psutil.Process] = []
    while len(workers) < 2 and time.monotonic() < deadline:
        workers = [p for p in psutil.Process(parent.pid).children() if "spawn_main" in " ".join(p.cmdline())]
        time.sleep(0.5)
    assert len(workers) == 2, "the workers did not start"
    time.sleep(2)
    os.kill(parent.pid, stop)
    code = parent.wait(timeout=60)
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == [], f"workers outlived their parent ({stop.name})"
    if stop != signal.SIGKILL:
        assert code == 130 and (parent.stderr and parent.stderr.read().strip().endswith("error: interrupted"))
