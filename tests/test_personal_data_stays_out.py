"""Personal data stays in the data: with values planted in the texts (and no --pseudonymize), none
appears in what headstart prints or logs, in metrics.json, config.yaml or the model card, nor in
the server's answers to bad requests, its logs or /metrics; for a run that succeeds and for one
that fails."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.pii_corpus import pii_corpus

import headstart
from headstart.cli import main
from headstart.workflows.serving import ServeLimits, create_app

RECORDS = ("metrics.json", "config.yaml", "README.md", "labels.json", "task.json")


def leaked(values: list[str], text: str) -> list[str]:
    return [value for value in values if value in text]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    texts, values = pii_corpus(120, seed=9)
    path = tmp_path_factory.mktemp("planted") / "tickets.csv"
    pd.DataFrame({"text": texts, "label": ["billing", "login", "other"] * 40}).to_csv(path, index=False)
    return path, values


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    printed = capsys.readouterr()
    return int(stop.value.code or 0), printed.out + printed.err


def test_a_succeeding_run_and_its_server_hold_no_planted_value(
    planted: tuple[Path, list[str]],
    tiny_model: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, values = planted
    out = tmp_path / "run"
    caplog.set_level(logging.DEBUG)
    argv = ["train", str(path), "--model", tiny_model, "--strategy", "features", "--out", str(out)]
    code, printed = run_cli([*argv, "--max-length", "48", "--refit", "no"], capsys)
    assert code == 0 and leaked(values, printed) == [] and leaked(values, caplog.text) == []
    for name in RECORDS:
        assert leaked(values, (out / name).read_text(encoding="utf-8")) == [], name
    code, printed = run_cli(["evaluate", str(out), "--data", str(path), "--json"], capsys)
    assert code == 0 and leaked(values, printed) == []

    run = headstart.load_run(out)
    texts = pd.read_csv(path).text.tolist()
    with TestClient(create_app(run, limits=ServeLimits(max_chars=400, max_texts=4))) as client:
        assert client.post("/predict", json={"texts": texts[:4]}).status_code == 200
        bad = [
            client.post("/predict", json={"texts": texts[:5]}),  # too many texts
            client.post("/predict", json={"text": texts[0] + " " + "x" * 500}),  # too long
            client.post("/predict", json={"texts": [texts[0], 5]}),  # not a string
            client.post("/predict", json={"text": texts[1], "extra": texts[2]}),  # unknown key
        ]
        assert [response.status_code for response in bad] == [413, 413, 422, 422]
        assert leaked(values, " ".join(response.text for response in bad)) == []
        assert leaked(values, client.get("/metrics").text + client.get("/metadata").text) == []
    assert leaked(values, caplog.text) == []


def test_a_failing_run_names_rows_not_their_text(
    planted: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path, values = planted
    frame = pd.read_csv(path)
    frame.loc[3, "label"] = "rare"  # one example of a label: too few to split
    frame.to_csv(tmp_path / "bad.csv", index=False)
    frame.loc[[5], "text"] = "  "
    frame.to_csv(tmp_path / "blank.csv", index=False)
    for bad in ("bad.csv", "blank.csv"):
        code, printed = run_cli(["train", str(tmp_path / bad), "--out", str(tmp_path / "run")], capsys)
        assert code == 2 and printed.count("\n") == 1 and leaked(values, printed) == [], printed
    assert not (tmp_path / "run").exists()
