"""The `tfidf` baseline: scikit-learn's TF-IDF of the tokenizer's n-grams and a logistic regression,
computed from token ids in torch so that it saves (no pickle), reloads, serves and is compared
like any run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

import headstart
from headstart.cli import main
from headstart.data.bundled import load_bundled
from headstart.encoding import encode
from headstart.models.tfidf import ngram_keys
from headstart.models.zoo import load_tokenizer
from headstart.strategies.tfidf import Tfidf, TfidfConfig
from headstart.workflows.serving import create_app


@pytest.fixture(scope="module")
def bbc_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bbc") / "bbc.csv"
    load_bundled("bbc-news").sample(600, random_state=0).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def bbc_run(bbc_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> headstart.Run:
    return headstart.train(bbc_csv, out=tmp_path_factory.mktemp("runs") / "tfidf", strategy="tfidf")


@pytest.mark.parametrize("ngrams", [1, 2, 3])
def test_torch_vectors_are_scikit_learns(ngrams: int, minilm_dir: Path) -> None:
    tokenizer = load_tokenizer(minilm_dir)
    texts = load_bundled("bbc-news")["text"].head(40).tolist() + ["北京的天气很好", "上海的天"]
    encoded = encode(tokenizer, texts, 128)
    job = SimpleNamespace(tokenizer=tokenizer, train=encoded)
    vectoriser, expected = Tfidf(TfidfConfig(ngrams=ngrams, min_df=1)).vocabulary(job)  # type: ignore[arg-type]
    width = max(encoded.lengths())
    ids = torch.tensor([row + [0] * (width - len(row)) for row in encoded.input_ids])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in encoded.input_ids])
    np.testing.assert_allclose(vectoriser(ids, mask).numpy(), expected.toarray(), atol=1e-6)
    chinese = ngram_keys(ids[-1:], mask[-1:], vectoriser.special, ngrams, vectoriser.base)
    characters = len(tokenizer.tokenize("上海的天"))  # one token per character, all in MiniLM's vocabulary
    assert characters == 4 and int((chinese >= 0).sum()) == sum(characters - n for n in range(ngrams))


def test_tfidf_learns_bbc_and_reloads_without_pickle(bbc_run: headstart.Run) -> None:
    assert bbc_run.metrics["test"]["accuracy"] >= 0.9
    assert {"C", "dev_macro_f1"} <= set(bbc_run.metrics["training"]["history"][0])
    assert not list(bbc_run.path.rglob("*.bin")) and not list(bbc_run.path.rglob("*.pkl"))
    texts = ["Shares in the bank fell sharply after the profit warning.", "The striker scored twice."]
    again = headstart.load_run(bbc_run.path)
    np.testing.assert_allclose(again.predict_proba(texts), bbc_run.predict_proba(texts), atol=1e-6)
    assert again.predict(texts) == ["business", "sports"]


def test_tfidf_serves_and_refuses_export(
    bbc_run: headstart.Run, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    text = "The minister announced an election."
    with TestClient(create_app(bbc_run)) as client:
        answer = client.post("/predict", json={"text": text})
    assert answer.status_code == 200 and answer.json()["label"] == bbc_run.predict([text])[0]
    with pytest.raises(SystemExit) as stop:
        main(["export", str(bbc_run.path), "--out", str(tmp_path / "exported")])
    error = capsys.readouterr().err
    assert stop.value.code != 0 and "has no export format" in error and "Traceback" not in error
    assert not (tmp_path / "exported").exists()


def test_tfidf_appears_in_compare_and_learning_curve(bbc_csv: Path, tmp_path: Path) -> None:
    board = headstart.compare(
        bbc_csv,
        out=tmp_path / "grid",
        models=["minilm-l6"],
        strategies=["tfidf", "features"],
        seeds=1,
        max_length=64,
    )
    assert set(board["strategy"]) == {"tfidf", "features"}
    assert (board.set_index("strategy")["accuracy_mean"] > 0.8).all(), board
    curve = headstart.learning_curve(
        bbc_csv, out=tmp_path / "curve", sizes=[50, None], strategies=["tfidf"], seeds=1
    )
    assert curve["size"].tolist() == [50, 420] and curve["mean"].iloc[1] > curve["mean"].iloc[0], curve


def test_options_are_checked_and_an_empty_vocabulary_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(ValueError, match="ngrams must be 1 to 3"):
        TfidfConfig(ngrams=4)
    rows = [(f"word{i} token{i}", "a" if i % 2 else "b") for i in range(40)]
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(tmp_path / "unique.csv", index=False)
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "train",
                str(tmp_path / "unique.csv"),
                "--strategy",
                "tfidf",
                "--option",
                "min_df=30",
                "--out",
                str(tmp_path / "r"),
            ]
        )
    error = capsys.readouterr().err
    assert stop.value.code != 0 and "lower the tfidf strategy's min_df" in error and "Traceback" not in error
