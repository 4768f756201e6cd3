"""CLI conventions: --version, full names in piped tables, --json, standard input and output for
predict, --text, `headstart info`, long method names, help hints, and the one-line message of a
missing extra."""

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

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}


def cli(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in a fresh process, its stdout a pipe (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "headstart", *argv],
        env=ENV,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_version() -> None:
    import headstart

    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"headstart {headstart.__version__}"


def test_models_piped_shows_full_names_and_writes_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "headstart", "models"],
        env={**ENV, "HEADSTART_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    names = [line.split("│")[1].strip() for line in done.stdout.splitlines() if line.startswith("│")]
    assert {"minilm-l6", "multilingual-e5-small"} <= set(names)
    assert "…" not in "".join(names) and not list(tmp_path.rglob("*")), "listing must not import the e5 model"


def test_predict_reads_standard_input_and_writes_standard_output(tiny_run) -> None:
    rows = synthetic_rows(per_class=2, seed=61)
    lines = "".join(json.dumps({"id": i, "text": r["text"]}) + "\n" for i, r in enumerate(rows))
    done = cli("predict", str(tiny_run.path), "-", "-o", "-", stdin=lines)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["id"] for row in out] == list(range(6))
    assert [row["predicted_label"] for row in out] == tiny_run.predict([r["text"] for r in rows])
    csv_in = pd.DataFrame(rows).to_csv(index=False)
    done = cli("predict", str(tiny_run.path), "-", "--out", "-", stdin=csv_in)
    assert done.returncode == 0 and done.stdout.splitlines()[0].startswith(
        "text,label,predicted_label,prob_money"
    )


def test_predict_one_text_and_json(tiny_run, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main(
            [
                "predict",
                str(tiny_run.path),
                "--text",
                "the striker scored a goal",
                "--text",
                "bank shares",
                "--json",
            ]
        )
    assert done.value.code == 0
    answers = json.loads(capsys.readouterr().out)
    assert [a["label"] for a in answers] == tiny_run.predict(["the striker scored a goal", "bank shares"])
    assert abs(sum(answers[0]["probabilities"].values()) - 1) < 1e-4


def test_info_describes_a_run_without_loading_it(tiny_run, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["info", str(tiny_run.path), "--json"])
    facts = json.loads(capsys.readouterr().out)
    assert facts["task"] == "classification" and facts["labels"] == tiny_run.labels
    assert (
        facts["strategy"] == "finetune" and facts["test"]["accuracy"] == tiny_run.metrics["test"]["accuracy"]
    )
    assert facts["variants"] == ["fp32", "int8"] and facts["size_bytes"] > 1_000_000
    assert facts["load"]["python"] == f"headstart.load_run({str(tiny_run.path)!r})"
    with pytest.raises(SystemExit):
        main(["info", str(tiny_run.path)])
    assert "load in Python" in capsys.readouterr().out


def test_aggregation_takes_the_long_method_names(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    answers = [
        {"item": i, "annotator": f"a{j}", "label": ["x", "y"][(i + (j == 2)) % 2]}
        for i in range(20)
        for j in range(3)
    ]
    pd.DataFrame(answers).to_csv(tmp_path / "answers.csv", index=False)
    for method in ("dawid-skene", "DawidSkene", "majority-vote", "MajorityVote", "one_coin_dawid_skene"):
        with pytest.raises(SystemExit) as done:
            main(
                [
                    "labels",
                    "aggregate",
                    str(tmp_path / "answers.csv"),
                    "-o",
                    str(tmp_path / "gold.csv"),
                    "--method",
                    method,
                    "--json",
                ]
            )
        assert done.value.code == 0, method
        assert json.loads(capsys.readouterr().out)["method"] in ("ds", "mv", "one-coin-ds")


def test_usage_errors_name_the_command_once(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as done:
        main(["train", "--epoch", "3"])
    error = capsys.readouterr().err.strip()
    assert done.value.code == 2 and error.endswith("(see `headstart train --help`)"), error


def test_a_missing_extra_is_one_line_naming_the_install(tiny_run) -> None:
    probe = (
        "import sys\nsys.modules['fastapi'] = None  # as if the 'serve' extra were not installed\n"
        "from headstart.cli import main\nmain(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "serve", str(tiny_run.path)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "pip install 'headstart[serve]'" in lines[0] and "Traceback" not in done.stderr
