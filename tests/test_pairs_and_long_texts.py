"""Sentence pairs and long documents (windows whose logits are pooled).

Both use synthetic data made for the property under test: in the long texts the class keyword
sits after the first window, and in the pairs the label says whether both texts share a topic,
which neither text shows alone.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import FILLER, KEYWORDS, synthetic_rows

import headstart
from headstart.cli import main
from headstart.encoding import Encoded, Windowing, encode


def long_rows(per_class: int, seed: int) -> list[dict[str, str]]:
    """~60 filler words, then two keywords of the class: invisible to a 32-token window at the start."""
    rng = random.Random(seed)
    rows = []
    for label, words in KEYWORDS.items():
        for _ in range(per_class):
            rows.append(
                {
                    "text": " ".join(
                        [rng.choice(FILLER) for _ in range(rng.randint(55, 70))] + rng.sample(words, 2)
                    ),
                    "label": label,
                }
            )
    rng.shuffle(rows)
    return rows


def pair_rows(count: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    topics = {row["text"]: row["label"] for row in synthetic_rows(per_class=count, seed=seed)}
    texts = list(topics)
    rows = []
    for _ in range(count * 2):
        first = rng.choice(texts)
        same = rng.random() < 0.5
        second = rng.choice([t for t in texts if (topics[t] == topics[first]) == same and t != first])
        rows.append({"text": first, "text_pair": second, "label": "same" if same else "different"})
    return rows


def test_windows_overlap_by_the_stride_and_pool_back_to_texts(minilm_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    texts = [" ".join(f"w{i}" for i in range(100)), "short text"]
    encoded = encode(tokenizer, texts, Windowing(32, stride=8), label_ids=[1, 0])
    windows = [i for i, doc in enumerate(encoded.doc_ids) if doc == 0]
    assert len(windows) > 3 and encoded.doc_ids.count(1) == 1 and max(encoded.lengths()) == 32
    first, second = encoded.input_ids[windows[0]][1:-1], encoded.input_ids[windows[1]][1:-1]
    assert first[-8:] == second[:8]  # consecutive windows share `stride` tokens
    assert encoded.label_ids == [1] * len(windows) + [0]  # each window carries its text's label

    logits = torch.tensor([[1.0, 0.0], [3.0, -2.0], [0.0, 5.0]])
    rows = Encoded([[1]] * 3, doc_ids=[0, 0, 1])
    torch.testing.assert_close(rows.pool(logits, "mean"), torch.tensor([[2.0, -1.0], [0.0, 5.0]]))
    torch.testing.assert_close(rows.pool(logits, "max"), torch.tensor([[3.0, 0.0], [0.0, 5.0]]))


def test_pooling_windows_reads_what_truncation_cannot(tmp_path: Path) -> None:
    data = tmp_path / "long.csv"
    pd.DataFrame(long_rows(per_class=40, seed=5)).to_csv(data, index=False)
    options = {"strategy": "features", "max_length": 32}
    truncated = headstart.train(data, out=tmp_path / "cut", **options)
    pooled = headstart.train(data, out=tmp_path / "pooled", stride=8, pool="max", **options)
    assert truncated.metrics["test"]["accuracy"] < 0.6
    assert pooled.metrics["test"]["accuracy"] >= 0.9
    reloaded = headstart.load_run(pooled.path)
    assert (reloaded.config.stride, reloaded.config.pool) == (8, "max")
    texts = pd.read_csv(data).text.tolist()[:5]
    np.testing.assert_allclose(reloaded.predict_proba(texts), pooled.predict_proba(texts), atol=1e-5)
    assert reloaded.predict_proba(texts).shape == (5, 3)


def test_sentence_pairs_train_predict_and_evaluate(tiny_options: dict, tmp_path: Path) -> None:
    rows = pair_rows(count=100, seed=11)
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    run = headstart.train(
        tmp_path / "pairs.csv",
        out=tmp_path / "run",
        strategy="finetune",
        **{**tiny_options, "epochs": 4, "lr": 1e-4, "max_length": 96},
    )
    assert run.config.text_pair_col == "text_pair"
    assert run.metrics["test"]["accuracy"] >= 0.8
    goal, bank = "goal match striker", "shares bank profit"
    assert headstart.load_run(run.path).predict([(goal, "league coach stadium"), (goal, bank)]) == [
        "same",
        "different",
    ]

    pd.DataFrame(pair_rows(count=10, seed=12)).rename(columns={"text_pair": "sentence2"}).to_csv(
        tmp_path / "new.csv", index=False
    )
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "predict",
                str(run.path),
                str(tmp_path / "new.csv"),
                "--text-pair-col",
                "sentence2",
                "-o",
                str(tmp_path / "out.csv"),
                "--quiet",
            ]
        )
    assert stop.value.code == 0 and "prob_same" in pd.read_csv(tmp_path / "out.csv")
    metrics = run.evaluate(tmp_path / "new.csv", text_pair_col="sentence2", out=tmp_path / "ev")
    assert metrics["examples"] == 20


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


def test_a_pair_row_without_its_second_text_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    frame = pd.DataFrame(pair_rows(count=20, seed=3))
    frame.loc[4, "text_pair"] = None
    frame.to_csv(tmp_path / "train.csv", index=False)
    err = run_cli(["train", str(tmp_path / "train.csv"), "--out", str(tmp_path / "x")], capsys)
    assert "second text, column 'text_pair'" in err and "rows [6]" in err
    assert not (tmp_path / "x").exists()


def test_single_text_and_pair_inputs_are_not_mixed_up(
    tmp_path: Path, tiny_run, capsys: pytest.CaptureFixture
) -> None:
    pd.DataFrame(pair_rows(count=20, seed=4)).to_csv(tmp_path / "pairs.csv", index=False)
    err = run_cli(["evaluate", str(tiny_run.path), "--data", str(tmp_path / "pairs.csv")], capsys)
    assert "has a second-text column 'text_pair' but the model was trained without sentence pairs" in err


def test_stride_is_checked_against_the_window(tmp_path: Path, toy_csv: Path) -> None:
    with pytest.raises(headstart.ConfigError, match="at most half of the window"):
        headstart.train(toy_csv, out=tmp_path / "x", strategy="features", max_length=32, stride=20)
