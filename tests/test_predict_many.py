"""Batch prediction over many files: in one process, and on Ray Data with 2 local actors (a real
local Ray, started offline), whose outputs must equal the single-process ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import synthetic_rows

import headstart
from headstart.cli import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a CSV and a JSONL of texts, and a nested file that is not an input."""
    folder = tmp_path_factory.mktemp("inputs")
    pd.DataFrame(synthetic_rows(per_class=9, seed=31)).drop(columns="label").to_csv(
        folder / "a.csv", index=False
    )
    frame = pd.DataFrame(synthetic_rows(per_class=7, seed=32)).assign(id=range(21))
    frame.to_json(folder / "b.jsonl", orient="records", lines=True)
    (folder / "notes.txt").write_text("not a table")
    return folder


def read(path: Path) -> pd.DataFrame:
    return pd.read_json(path, lines=True) if path.suffix == ".jsonl" else pd.read_csv(path)


def test_ray_engine_writes_what_one_process_writes(
    tiny_run: headstart.Run, inputs: Path, tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray")
    sets = {"coverage": 0.9, "queue": tmp_path / "local-queue.csv"}
    local = headstart.predict_many(tiny_run.path, [inputs], tmp_path / "local", **sets)
    try:
        with pytest.raises(SystemExit) as done:
            main(
                [
                    "predict",
                    str(tiny_run.path),
                    str(inputs),
                    "--engine",
                    "ray",
                    "--workers",
                    "2",
                    "--out",
                    str(tmp_path / "ray"),
                    "--coverage",
                    "0.9",
                    "--queue",
                    str(tmp_path / "ray-queue.csv"),
                    "-q",
                ]
            )
        assert done.value.code == 0
    finally:
        ray.shutdown()
    assert sorted(Path(p).name for p in local) == ["a.csv", "b.jsonl"]
    for name in ("a.csv", "b.jsonl"):
        one, many = read(tmp_path / "local" / name), read(tmp_path / "ray" / name)
        assert list(many.columns) == list(one.columns) and len(many) == len(one)
        pd.testing.assert_frame_equal(many, one, atol=1e-5, check_exact=False)
    assert "id" in read(tmp_path / "ray" / "b.jsonl").columns  # the input's own columns stay
    assert {"label_set", "uncertain"} <= set(read(tmp_path / "ray" / "a.csv").columns)
    pd.testing.assert_frame_equal(read(tmp_path / "ray-queue.csv"), read(tmp_path / "local-queue.csv"))


def test_predicting_many_files_refuses_clashing_names_and_unknown_engines(
    tiny_run: headstart.Run, inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.csv").write_text("text\nhello\n")
    for args, message in (
        ([str(inputs), str(other)], "Two inputs are named 'a.csv'"),
        ([str(inputs), "--engine", "spark"], "Unknown engine 'spark'"),
        ([str(tmp_path / "missing"), str(inputs)], "does not exist"),
    ):
        with pytest.raises(SystemExit) as done:
            main(["predict", str(tiny_run.path), *args, "--out", str(tmp_path / "o")])
        error = capsys.readouterr().err.strip()
        assert done.value.code != 0 and message in error and len(error.splitlines()) == 1, error
