"""Bad input: one line on stderr, exit code 2, no traceback, nothing written.

Each case builds its own files in an empty working folder and names the fragment the message must
hold; the folder must hold exactly those input files afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import synthetic_rows

from headstart.cli import main

GOOD_ROWS = synthetic_rows(per_class=10, seed=3)


def write(path: Path, content: str | bytes) -> str:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path.name


def good_csv(folder: Path, name: str = "good.csv") -> str:
    pd.DataFrame(GOOD_ROWS).to_csv(folder / name, index=False)
    return name


def pickle_only_model(folder: Path) -> str:
    model = folder / "pickled-model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')
    (model / "pytorch_model.bin").write_bytes(b"not really a pickle")
    return str(model)


def fake_run(folder: Path) -> str:
    (folder / "not-a-run").mkdir()
    (folder / "not-a-run" / "config.yaml").write_text("data: x.csv\n")
    return "not-a-run"


# name -> (build argv in the folder, fragment expected in the message)
CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "missing file": (lambda d: ["train", "nope.csv"], "does not exist"),
    "empty file": (lambda d: ["train", write(d / "empty.csv", "")], "is empty"),
    "unknown format": (lambda d: ["train", write(d / "data.docx", "x")], "unknown format '.docx'"),
    "directory as file": (lambda d: (d / "folder.csv").mkdir() or ["train", "folder.csv"], "is a directory"),
    "header only": (lambda d: ["train", write(d / "header.csv", "text,label\n")], "no data rows"),
    "no text column": (lambda d: ["train", write(d / "cols.csv", "a,label\nx,y\n")], "No text column"),
    "no label column": (lambda d: ["train", write(d / "cols.csv", "text,b\nx,y\n")], "No label column"),
    "text-col not in file": (
        lambda d: ["train", good_csv(d), "--text-col", "body"],
        "Text column 'body' is not in",
    ),
    "label-col not in file": (
        lambda d: ["train", good_csv(d), "--label-col", "topic"],
        "Label column 'topic' is not in",
    ),
    "missing labels": (
        lambda d: ["train", write(d / "nan.csv", "text,label\nhello,a\nworld,\nagain,b\n")],
        "have no label (rows [3])",
    ),
    "one class only": (
        lambda d: ["train", write(d / "one.csv", "text,label\n" + "".join(f"t{i},a\n" for i in range(9)))],
        "1 distinct value",
    ),
    "empty texts": (
        lambda d: ["train", write(d / "blank.csv", "text,label\nhello,a\n   ,b\n,a\n")],
        "have empty text (rows [3, 4])",
    ),
    "undecodable bytes": (
        lambda d: ["train", write(d / "latin.csv", "text,label\ncaf\xe9,a\n".encode("latin-1"))],
        "not valid UTF-8",
    ),
    "csv row with extra fields": (
        lambda d: ["train", write(d / "bad.csv", "text,label\nx,y\na,b,c,d\n")],
        "Line 3 of 'bad.csv' has 4 fields",
    ),
    "csv with broken quoting": (
        lambda d: ["train", write(d / "bad.csv", 'text,label\n"a"b,c\n')],
        "not well-formed CSV",
    ),
    "malformed jsonl": (
        lambda d: ["train", write(d / "bad.jsonl", '{"text": "a", "label": "x"}\n{"text": \n')],
        "Line 2 of 'bad.jsonl' is not valid JSON",
    ),
    "jsonl not objects": (lambda d: ["train", write(d / "list.jsonl", '["a", "b"]\n')], "not a JSON object"),
    "damaged parquet": (
        lambda d: ["train", write(d / "bad.parquet", b"PAR1garbage")],
        "not a readable Parquet",
    ),
    "too few per class": (
        lambda d: [
            "train",
            write(d / "rare.csv", "text,label\n" + "".join(f"t{i},a\n" for i in range(9)) + "u,b\n"),
        ],
        "fewer than 3 examples",
    ),
    "unknown split value": (
        lambda d: ["train", write(d / "split.csv", "text,label,split\na,x,train\nb,y,holdout\n")],
        "holds ['holdout']",
    ),
    "unseen dev label": (
        lambda d: ["train", good_csv(d), "--dev-data", write(d / "dev.csv", "text,label\nhi,weather\n")],
        "never seen in training",
    ),
    "unknown dataset": (lambda d: ["train", "--dataset", "imdb"], "Unknown bundled dataset 'imdb'"),
    "data and dataset": (lambda d: ["train", good_csv(d), "--dataset", "bbc-news"], "exactly one of"),
    "no data": (lambda d: ["train"], "exactly one of"),
    "unknown model": (lambda d: ["train", good_csv(d), "--model", "gpt-17"], "Unknown model 'gpt-17'"),
    "missing model folder": (lambda d: ["train", good_csv(d), "--model", "./models/none"], "does not exist"),
    "uncached hub id offline": (
        lambda d: ["train", good_csv(d), "--model", "nobody/not-cached-model"],
        "not in the local cache",
    ),
    "pickle-only weights": (
        lambda d: ["train", good_csv(d), "--model", pickle_only_model(d)],
        "pass --allow-pickle",
    ),
    "unknown strategy": (lambda d: ["train", good_csv(d), "--strategy", "magic"], "Unknown strategy 'magic'"),
    "malformed strategy option": (
        lambda d: ["train", good_csv(d), "--strategy", "features", "--option", "c_values"],
        "KEY=VALUE",
    ),
    "unknown strategy option": (
        lambda d: ["train", good_csv(d), "--strategy", "features", "--option", "depth=3"],
        "has no option(s) ['depth']",
    ),
    "option of the other static head": (
        lambda d: ["train", good_csv(d), "--strategy", "static", "--option", "c_values=[1]"],
        "c_values applies to head=logistic only, not to head=trained; drop it or add head=logistic",
    ),
    "zero epochs": (lambda d: ["train", good_csv(d), "--epochs", "0"], "'epochs' must be at least 1"),
    "frozen layers with features": (
        lambda d: ["train", good_csv(d), "--strategy", "features", "--freeze-layers", "1"],
        "--freeze-layers keeps encoder layers out of training; 'features' trains none",
    ),
    "every layer frozen": (
        lambda d: ["train", good_csv(d), "--freeze-layers", "6", "--epochs", "1"],
        "the encoder has 6 layers; use at most 5",
    ),
    "dev size out of range": (
        lambda d: ["train", good_csv(d), "--dev-size", "1.5"],
        "'dev_size' must be in (0, 1)",
    ),
    "output exists": (
        lambda d: (d / "runs").mkdir() or ["train", good_csv(d), "--out", "runs"],
        "already exists",
    ),
    "resume without checkpoint": (
        lambda d: ["train", good_csv(d), "--out", "fresh", "--resume"],
        "Nothing to resume",
    ),
    "config file missing": (lambda d: ["train", "--config", "none.yaml"], "does not exist"),
    "config not yaml": (lambda d: ["train", "--config", write(d / "c.yaml", "a: [1\n")], "not valid YAML"),
    "config unknown key": (
        lambda d: ["train", "--config", write(d / "c.yaml", "dataset: bbc-news\nlearning_rate: 1\n")],
        "Unknown config key(s) ['learning_rate']",
    ),
    "evaluate missing run": (lambda d: ["evaluate", "no-run", "--data", good_csv(d)], "does not exist"),
    "evaluate incomplete run": (
        lambda d: ["evaluate", fake_run(d), "--data", good_csv(d)],
        "not a complete headstart run",
    ),
    "unknown flag": (lambda d: ["train", good_csv(d), "--epoch", "3"], "No such option"),
    "bad flag value": (lambda d: ["train", good_csv(d), "--epochs", "many"], "Invalid value for '--epochs'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line_and_exit_2(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    build, fragment = CASES[case]
    argv = build(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    started = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_info.value.code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert fragment in lines[0], lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before, "nothing may be written"
    assert elapsed < 30, "errors must come fast, never after a network wait"


def test_errors_on_a_trained_run(tiny_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "unseen eval label": (
            [
                "evaluate",
                str(tiny_run.path),
                "--data",
                write(tmp_path / "new.csv", "text,label\nhi,weather\n"),
            ],
            "never seen in training",
        ),
        "predict without text column": (
            ["predict", str(tiny_run.path), write(tmp_path / "x.csv", "a,b\n1,2\n"), "-o", "p.csv"],
            "No text column",
        ),
        "predict unknown output format": (
            ["predict", str(tiny_run.path), good_csv(tmp_path), "-o", "p.docx"],
            "unknown format '.docx'",
        ),
    }
    for name, (argv, fragment) in cases.items():
        argv = [str(tmp_path / a) if (tmp_path / a).exists() else a for a in argv]
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and "\n" not in err and fragment in err, (name, err)
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "p.docx").exists()
    assert not (tiny_run.path / "evaluations").exists()


def test_duplicates_between_train_and_test_are_a_one_line_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from headstart.data.dataset import load_splits

    rows = synthetic_rows(per_class=10, seed=3)
    pd.DataFrame(rows).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(rows[:4] + synthetic_rows(per_class=2, seed=8)).to_csv(tmp_path / "test.csv", index=False)
    with pytest.warns(UserWarning, match=r"^4 test text\(s\) also appear in the training data"):
        load_splits(
            str(tmp_path / "train.csv"),
            dev_data=str(tmp_path / "test.csv"),
            test_data=str(tmp_path / "test.csv"),
        )
