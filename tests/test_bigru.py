"""The `bigru` baseline: a bidirectional GRU or LSTM over the tokenizer's tokens, trained by the
shared loop, as a text classifier and as a tagger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from tests.test_ner import conll_text, synthetic_sentences

import headstart
from headstart.models.classifiers import load_encoder
from headstart.models.recurrent import RecurrentClassifier
from headstart.models.zoo import resolve_model
from headstart.strategies.bigru import BiGruConfig
from headstart.workflows.serving import create_app


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("token_level", [False, True])
def test_padding_changes_nothing(cell: str, token_level: bool) -> None:
    """Packed sequences: a text's outputs are the same alone and beside a longer text."""
    torch.manual_seed(0)
    model = RecurrentClassifier(torch.randn(50, 8), 3, cell, hidden=6, token_level=token_level).eval()
    short, long = [2, 7, 9, 3], [2, 5, 5, 8, 11, 4, 3]
    alone = model(torch.tensor([short]), torch.ones(1, 4, dtype=torch.long))
    batch = torch.tensor([short + [0, 0, 0], long])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0], [1] * 7])
    beside = model(batch, mask)[:1]
    torch.testing.assert_close(beside[:, :4] if token_level else beside, alone)


def test_embeddings_start_from_the_encoder_or_at_random(
    toy_csv: Path, tiny_options: dict, tmp_path: Path
) -> None:
    options = {**tiny_options, "epochs": 1, "freeze_embeddings": True}  # the table stays as it started
    encoder_table = load_encoder(resolve_model("minilm-l6", False)).get_input_embeddings().weight.detach()
    from_encoder = headstart.train(toy_csv, out=tmp_path / "encoder", strategy="bigru", **options)
    torch.testing.assert_close(from_encoder.predictor.classifier.embedding.weight, encoder_table)  # type: ignore[attr-defined]
    random = headstart.train(
        toy_csv,
        out=tmp_path / "random",
        strategy="bigru",
        strategy_options={"embeddings": "random", "cell": "lstm"},
        **options,
    )
    classifier = random.predictor.classifier  # type: ignore[attr-defined]
    assert isinstance(classifier.rnn, torch.nn.LSTM)
    assert not torch.allclose(classifier.embedding.weight, encoder_table)


def test_bigru_tags_entities_and_reloads(tmp_path: Path, tiny_options: dict) -> None:
    (tmp_path / "train.conll").write_text(conll_text(synthetic_sentences(300, seed=4)), encoding="utf-8")
    run = headstart.train(
        tmp_path / "train.conll",
        out=tmp_path / "run",
        strategy="bigru",
        **{**tiny_options, "epochs": 6, "lr": 5e-3, "batch_size": 16},
    )
    assert run.config.task == "ner" and run.metrics["test"]["f1"] >= 0.6, run.metrics["test"]
    words = [["yesterday", "Fatima", "met", "Bob", "in", "Oslo"]]
    np.testing.assert_allclose(
        headstart.load_run(run.path).predictor.outputs(words)[0], run.predictor.outputs(words)[0], atol=1e-5
    )


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="cell must be one of"):
        BiGruConfig(cell="rnn")
    with pytest.raises(ValueError, match="dropout in"):
        BiGruConfig(dropout=1.0)


def test_bigru_appears_in_compare_and_serves(toy_csv: Path, tiny_options: dict, tmp_path: Path) -> None:
    options = {
        **{key: value for key, value in tiny_options.items() if key != "model"},
        "epochs": 4,
        "lr": 5e-3,
    }
    board = headstart.compare(
        toy_csv, out=tmp_path / "grid", models=["minilm-l6"], strategies=["bigru"], seeds=1, **options
    )
    assert board["strategy"].tolist() == ["bigru"] and board["accuracy_mean"].iloc[0] > 0.5, board
    run = headstart.load_run(next((tmp_path / "grid" / "runs").iterdir()))
    with TestClient(create_app(run)) as client:
        answer = client.post("/predict", json={"text": "goal match striker"})
    assert answer.status_code == 200 and answer.json()["label"] == run.predict(["goal match striker"])[0]
