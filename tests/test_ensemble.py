"""`ensemble`: the mean of the members' probabilities, saved as one self-contained run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import synthetic_rows

import headstart
from headstart.cli import main

TINY = {
    "epochs": 1,
    "batch_size": 8,
    "lr": 1e-3,
    "patience": 0,
    "refit": "no",
    "checkpoint_every": 0,
    "max_length": 32,
}


@pytest.fixture(scope="module")
def members(toy_csv: Path, tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> list[headstart.Run]:
    folder = tmp_path_factory.mktemp("members")
    return [
        headstart.train(
            toy_csv, out=folder / f"s{seed}", model=tiny_model, strategy=strategy, seed=seed, **TINY
        )
        for seed, strategy in ((1, "finetune"), (2, "bitfit"))
    ]


def test_ensemble_averages_member_probabilities_and_stands_alone(
    members: list[headstart.Run], tmp_path: Path
) -> None:
    data = tmp_path / "test.csv"
    pd.DataFrame(synthetic_rows(per_class=6, seed=31)).to_csv(data, index=False)
    run = headstart.ensemble([m.path for m in members], out=tmp_path / "ens", data=data)
    texts = [row["text"] for row in synthetic_rows(per_class=3, seed=32)]
    expected = np.mean([m.predict_proba(texts) for m in members], axis=0)
    np.testing.assert_allclose(run.predict_proba(texts), expected, atol=1e-6)
    assert run.metrics["test"]["examples"] == 18 and len(run.metrics["members"]) == 2
    assert (tmp_path / "ens" / "confusion_matrix.png").is_file()
    for member in members:  # the ensemble keeps its own copies
        shutil.move(member.path, member.path.with_name(member.path.name + "-moved"))
    try:
        np.testing.assert_allclose(
            headstart.load_run(tmp_path / "ens").predict_proba(texts), expected, atol=1e-6
        )
    finally:
        for member in members:
            shutil.move(member.path.with_name(member.path.name + "-moved"), member.path)


def test_ensemble_errors_are_one_line(
    members: list[headstart.Run], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels_file = tmp_path / "other"
    shutil.copytree(members[1].path, labels_file)
    (labels_file / "labels.json").write_text('["a", "b", "c"]')
    cases = {
        "one run": ([str(members[0].path)], "at least 2 runs"),
        "different labels": ([str(members[0].path), str(labels_file)], "have different labels"),
        "missing run": ([str(members[0].path), str(tmp_path / "nope")], "does not exist"),
    }
    for name, (runs, fragment) in cases.items():
        with pytest.raises(SystemExit) as exit_info:
            main(["ensemble", *runs, "--out", str(tmp_path / "ens")])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and "\n" not in err and fragment in err, (name, err)
    assert not (tmp_path / "ens").exists()
