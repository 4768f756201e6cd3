"""The CLI as a user runs it: real console script for predict, in-process for the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import synthetic_rows

from headstart.cli import main
from headstart.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def test_predict_10000_texts_shows_progress_and_writes_a_column_per_class(tiny_run, tmp_path: Path) -> None:
    # Four words each: what is under test is 10,000 rows' progress, order and columns, not the model's cost.
    texts = [" ".join(row["text"].split()[:4]) for row in synthetic_rows(per_class=3334, seed=11)][:10_000]
    pd.DataFrame({"id": range(10_000), "text": texts}).to_csv(tmp_path / "input.csv", index=False)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "120"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "headstart",
            "predict",
            str(tiny_run.path),
            str(tmp_path / "input.csv"),
            "-o",
            str(tmp_path / "predictions.csv"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "Predicting" in done.stderr and "10000/10000" in done.stderr
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert len(predictions) == 10_000 and predictions["id"].tolist() == list(range(10_000))
    assert [c for c in predictions.columns if c.startswith("prob_")] == [
        "prob_money",
        "prob_sport",
        "prob_tech",
    ]
    assert ((predictions.filter(like="prob_").sum(axis=1) - 1).abs() < 1e-4).all()
    assert not list(tmp_path.glob(".*tmp"))


def test_train_flags_reach_the_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toy_csv: Path) -> None:
    received = {}

    class FakeRun:
        path = tmp_path / "x"
        metrics = {
            "test": {"examples": 1, "accuracy": 1.0, "macro_f1": 1.0, "ece": 0.0, "per_class": {}},
            "cost": {},
        }

    def fake_train(data, out, config, resume, overwrite):
        received.update(data=data, out=out, config=config, resume=resume, overwrite=overwrite)
        return FakeRun()

    monkeypatch.setattr("headstart.api.train", fake_train)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "train",
                str(toy_csv),
                "--strategy",
                "features",
                "--epochs",
                "3",
                "--lr",
                "2e-5",
                "--class-weights",
                "--option",
                "c_values=[0.5, 2]",
                "--resume",
                "--quiet",
            ]
        )
    assert exit_info.value.code == 0
    config: TrainConfig = received["config"]
    assert (config.strategy, config.epochs, config.lr, config.class_weights) == ("features", 3, 2e-5, True)
    assert config.strategy_options == {"c_values": [0.5, 2]} and config.batch_size == TrainConfig.batch_size
    assert received["out"] == Path("runs/toy-features") and received["resume"] is True
    assert received["data"] is None  # the file is the config's; only --tasks passes a table


def test_config_file_reruns_with_overrides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toy_csv: Path
) -> None:
    TrainConfig(data=str(toy_csv), epochs=7, seed=3).save_yaml(tmp_path / "config.yaml")
    received = {}
    monkeypatch.setattr(
        "headstart.api.train",
        lambda data, out, config, resume, overwrite: (
            received.update(config=config) or (_ for _ in ()).throw(SystemExit(0))
        ),
    )
    with pytest.raises(SystemExit):
        main(
            ["train", "--config", str(tmp_path / "config.yaml"), "--seed", "9", "--out", str(tmp_path / "o")]
        )
    assert (received["config"].epochs, received["config"].seed, received["config"].data) == (
        7,
        9,
        str(toy_csv),
    )


def test_models_and_strategies_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["models", "--json"])
    assert exit_info.value.code == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(m["name"] == "minilm-l6" and m["parameters"] == 22_713_728 for m in listed)
    with pytest.raises(SystemExit):
        main(["strategies"])
    out = capsys.readouterr().out
    issue_methods = [
        "features-mix",
        "gradual-unfreeze",
        "discriminative-lr",
        "stlr",
        "lora",
        "adapters",
        "bitfit",
        "l2sp",
        "multitask",
        "dapt",
        "ensemble",
        "finetune",
        "features",
    ]
    assert [name for name in issue_methods if name not in out] == []


def test_evaluate_command_prints_and_saves(
    tiny_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.DataFrame(synthetic_rows(per_class=5, seed=21)).to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "evaluate",
                str(tiny_run.path),
                "--data",
                str(tmp_path / "test.csv"),
                "--out",
                str(tmp_path / "ev"),
                "--json",
                "--quiet",
            ]
        )
    assert exit_info.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["examples"] == 15 and printed == json.loads((tmp_path / "ev" / "metrics.json").read_text())


HEAVY = ("torch", "transformers", "pandas", "sklearn")
HELP_PROBE = f"""
import json, sys
from headstart.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps({{name: name in sys.modules for name in {HEAVY}}}))
"""


def _help_imports(argv: list[str]) -> dict[str, bool]:
    """Which heavy libraries a help command loads, in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, *argv], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"]])
def test_help_loads_no_heavy_library(argv: list[str]) -> None:
    assert _help_imports(argv) == dict.fromkeys(HEAVY, False)


def test_root_help_summaries_are_the_commands_own() -> None:
    import typer

    from headstart.cli import ROOT_COMMANDS, app

    group = typer.main.get_command(app)
    context = group.make_context("headstart", ["--help"], resilient_parsing=True)
    for name, (_, summary) in ROOT_COMMANDS.items():
        command = group.get_command(context, name)
        assert (command.help or "").split("\n\n")[0].replace("\n", " ") == summary, name


def _params(command_name: str) -> dict[str, object]:
    import typer

    from headstart.cli import app

    group = typer.main.get_command(app)
    command = group.get_command(group.make_context("headstart", [], resilient_parsing=True), command_name)
    return {param.name: param for param in command.params}


def test_train_flags_are_generated_from_the_config_with_its_defaults() -> None:
    import dataclasses

    params = _params("train")
    fields = {
        field.name: field
        for field in dataclasses.fields(TrainConfig)
        if field.name != "strategy_options" and field.metadata["flag"]
    }
    assert set(fields) <= set(params) and "in_memory" not in params  # set by code, never a flag
    for name, field in fields.items():
        assert params[name].help == field.metadata["help"], name
        if field.default not in (None, dataclasses.MISSING):
            assert params[name].show_default == str(field.default), name
    assert params["epochs"].opts == ["--epochs"] and params["class_weights"].secondary_opts == [
        "--no-class-weights"
    ]


def test_shared_flags_read_the_same_in_every_command() -> None:
    commands = {name: _params(name) for name in ("train", "compare", "tune", "learning-curve")}
    for name, param in commands["train"].items():
        for other, params in commands.items():
            if name in params and name not in ("out", "option", "strategy"):
                assert (params[name].help, params[name].opts) == (param.help, param.opts), (other, name)
    assert "epochs" in commands["compare"] and "epochs" not in commands["tune"]  # tune draws it per trial
