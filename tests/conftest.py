"""Shared fixtures. Tests never touch the network: HF_HUB_OFFLINE=1 and a private cache folder.

Tests that need learning use the packaged MiniLM on short synthetic texts whose class is given by
keywords (a few seconds of training learns them); tests where learning does not matter use a tiny
randomly initialised BERT (2 layers, hidden 32) with MiniLM's tokenizer.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pandas as pd
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HEADSTART_DEVICE"] = "cpu"  # `--device auto` means the CPU here, even on a machine with a GPU
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

KEYWORDS = {
    "sport": ["goal", "match", "league", "striker", "coach", "stadium"],
    "money": ["shares", "profit", "bank", "market", "investor", "inflation"],
    "tech": ["software", "chip", "internet", "robot", "laptop", "network"],
}
FILLER = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "on",
    "for",
    "with",
    "said",
    "that",
    "was",
    "it",
    "is",
    "by",
    "from",
    "year",
    "people",
    "new",
]


def synthetic_rows(
    per_class: int, seed: int, classes: dict[str, list[str]] = KEYWORDS
) -> list[dict[str, str]]:
    """Texts of 4-30 filler words plus two keywords of their class (varied lengths on purpose)."""
    rng = random.Random(seed)
    rows = []
    for label, words in classes.items():
        for _ in range(per_class):
            tokens = [rng.choice(FILLER) for _ in range(rng.randint(4, 30))]
            for word in rng.sample(words, 2):
                tokens.insert(rng.randrange(len(tokens) + 1), word)
            rows.append({"text": " ".join(tokens), "label": label})
    rng.shuffle(rows)
    return rows


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADSTART_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    from headstart.models.zoo import resolve_model

    return resolve_model("minilm-l6")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> str:
    """A 2-layer BERT with hidden size 32, random weights, saved as safetensors."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    folder = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def toy_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "toy.csv"
    pd.DataFrame(synthetic_rows(per_class=40, seed=1)).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_options() -> dict:
    """Training options that make MiniLM learn the toy data in seconds."""
    return {
        "model": "minilm-l6",
        "epochs": 2,
        "batch_size": 8,
        "lr": 1e-4,
        "patience": 0,
        "refit": "no",  # the mechanisms under test; the refit has tests of its own (test_refit.py)
        "checkpoint_every": 0,
        "warmup_ratio": 0.0,
        "max_length": 48,
    }


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, toy_csv: Path, tiny_options: dict):
    """One finetuned run shared by the tests that only read it."""
    import headstart

    return headstart.train(
        toy_csv, out=tmp_path_factory.mktemp("runs") / "toy", strategy="finetune", **tiny_options
    )
