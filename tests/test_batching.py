"""Length-grouped batches, padding, truncation length, order-restoring inference."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pandas as pd
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import synthetic_rows

from headstart.encoding import (
    Encoded,
    LengthGroupedBatchSampler,
    choose_max_length,
    forward_in_batches,
    pad_batch,
)


def test_sampler_covers_every_index_once_and_depends_only_on_seed_and_epoch() -> None:
    lengths = [random.Random(0).randint(5, 300) for _ in range(1000)]
    sampler = LengthGroupedBatchSampler(lengths, batch_size=16, seed=3)
    epoch0 = list(sampler)
    assert sorted(i for batch in epoch0 for i in batch) == list(range(1000))
    assert list(LengthGroupedBatchSampler(lengths, batch_size=16, seed=3)) == epoch0
    sampler.set_epoch(1)
    assert list(sampler) != epoch0


def test_grouped_batches_waste_far_less_padding_than_random_ones() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(5, 300) for _ in range(2000)]

    def padded(batches: list[list[int]]) -> int:
        return sum(max(lengths[i] for i in b) * len(b) for b in batches)

    order = list(range(2000))
    rng.shuffle(order)
    random_batches = [order[i : i + 16] for i in range(0, 2000, 16)]
    grouped = list(LengthGroupedBatchSampler(lengths, batch_size=16, seed=0))
    assert padded(grouped) < 0.6 * padded(random_batches)
    assert padded(grouped) < 1.05 * sum(lengths)


def test_pad_batch_pads_to_the_longest_row() -> None:
    batch = pad_batch([([101, 5, 102], 1, None, 0), ([101, 102], 0, None, 1)], pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [1, 0]


def test_max_length_follows_the_data_and_the_model_cap(minilm_dir) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    short = ["one two three"] * 50
    assert choose_max_length(tokenizer, short, 95, 256) == 8
    long = ["word " * 400] * 50
    assert choose_max_length(tokenizer, long, 95, 256) == 256
    mixed = ["word " * n for n in range(1, 101)]
    assert (
        96 <= choose_max_length(tokenizer, mixed, 95, 256) <= 104
    )  # 95th percentile of 3..102 tokens, rounded up to 8


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.integers(1, 99), min_size=1, max_size=12), min_size=1, max_size=40),
    st.integers(1, 9),
)
def test_inference_returns_rows_in_input_order(rows: list[list[int]], batch_size: int) -> None:
    # A "model" whose output is each row's first token and length: reordering would show.
    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.stack([ids[:, 0].float(), mask.sum(dim=1).float()], dim=1)

    out = forward_in_batches(forward, Encoded(rows), batch_size, pad_id=0, show_progress=False)
    assert out.tolist() == [[float(r[0]), float(len(r))] for r in rows]


def test_strategies_that_train_the_encoder_read_past_the_sentence_transformers_length(
    tiny_model: str, tmp_path: Path
) -> None:
    """A sentence-transformers `max_seq_length` binds frozen embeddings, not fine-tuning: on long
    texts finetune takes the position embeddings' limit, features the sentence length."""
    import headstart

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 32}))
    rows = [{**row, "text": " ".join([row["text"]] * 12)} for row in synthetic_rows(20, seed=4)]
    data = tmp_path / "long.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    options = {"model": str(model), "epochs": 1, "refit": "no", "checkpoint_every": 0}
    tuned = headstart.train(data, out=tmp_path / "finetune", strategy="finetune", **options)
    frozen = headstart.train(data, out=tmp_path / "features", strategy="features", **options)
    assert (tuned.config.max_length, frozen.config.max_length) == (128, 32)
