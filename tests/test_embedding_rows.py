"""Only the token-embedding rows of the training texts train (`training/embedding_rows.py`): the
same model as a dense update of the whole table, and a plain transformers model when saved."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import headstart
import headstart.training.loop as loop_module
from headstart.training.embedding_rows import SeenRows

EXACT = {"epochs": 2, "patience": 0, "refit": "no", "checkpoint_every": 0, "max_length": 32}
EXACT |= {"weight_decay": 0.0, "lr": 1e-3, "batch_size": 8}  # no decay: unseen rows stay exactly put


def saved_table(run: headstart.Run) -> torch.Tensor:
    weights = load_file(str(run.path / "model" / "model.safetensors"))
    (name,) = [name for name in weights if name.endswith("word_embeddings.weight")]
    return weights[name]


@pytest.mark.parametrize("strategy", ["finetune", "l2sp"])
def test_training_seen_rows_gives_the_dense_update(
    strategy: str, toy_csv: Path, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sparse = headstart.train(toy_csv, out=tmp_path / "rows", model=tiny_model, strategy=strategy, **EXACT)
    monkeypatch.setattr(loop_module, "train_seen_rows", lambda model, token_lists: 0)
    dense = headstart.train(toy_csv, out=tmp_path / "dense", model=tiny_model, strategy=strategy, **EXACT)
    assert sparse.metrics["training"]["history"] == dense.metrics["training"]["history"] or all(
        abs(a["train_loss"] - b["train_loss"]) < 1e-4
        for a, b in zip(
            sparse.metrics["training"]["history"], dense.metrics["training"]["history"], strict=True
        )
    )
    assert "embedding_rows_trained" not in dense.metrics["training"]
    after_sparse, after_dense = saved_table(sparse), saved_table(dense)
    before = load_file(str(Path(tiny_model) / "model.safetensors"))["embeddings.word_embeddings.weight"]
    moved = (after_dense != before).any(dim=1)
    assert 0 < int(moved.sum()) < len(before) // 10, "the toy texts use a few hundred of 30,522 tokens"
    assert sparse.metrics["training"]["embedding_rows_trained"] >= int(moved.sum())
    assert torch.equal(after_sparse[~moved], before[~moved])
    assert (after_sparse[moved] - after_dense[moved]).abs().max() < 1e-4
    probabilities = sparse.predict_proba(["goal match", "shares bank"], show_progress=False)
    assert (
        abs(probabilities - dense.predict_proba(["goal match", "shares bank"], show_progress=False)).max()
        < 1e-4
    )


def test_seen_rows_answer_unseen_tokens_from_the_table_and_merge_back() -> None:
    embedding = torch.nn.Embedding(10, 4, padding_idx=0)
    rows = SeenRows(embedding, torch.tensor([0, 3, 5]))
    with torch.no_grad():
        rows.rows += 1.0
    looked_up = rows(torch.tensor([[3, 5, 7]]))
    assert torch.equal(looked_up[0, :2], embedding.weight[[3, 5]] + 1.0)
    assert torch.equal(looked_up[0, 2], embedding.weight[7])
    merged = rows.merged()
    assert isinstance(merged, torch.nn.Embedding) and merged.padding_idx == 0
    assert torch.equal(merged.weight[[0, 3, 5]], embedding.weight[[0, 3, 5]] + 1.0)
    assert torch.equal(merged.weight[[1, 2, 4, 6, 7, 8, 9]], embedding.weight[[1, 2, 4, 6, 7, 8, 9]])


def test_the_seen_rows_gradient_is_the_same_every_time() -> None:
    """Many repeats of few tokens over two threads: indexing's backward (`rows[slot]`) added them
    in parallel in no fixed order, so one seed gave runs that differed by 1e-5 in bf16."""
    torch.manual_seed(0)
    rows = SeenRows(torch.nn.Embedding(1000, 384), torch.arange(100, 150))
    ids = torch.randint(100, 150, (64, 128))
    upstream = torch.randn(64, 128, 384)
    gradients = []
    for _ in range(6):
        rows.rows.grad = None
        (rows(ids) * upstream).sum().backward()
        gradients.append(rows.rows.grad.clone())
    assert all(torch.equal(gradient, gradients[0]) for gradient in gradients)
