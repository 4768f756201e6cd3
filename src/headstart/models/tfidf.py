"""TF-IDF of token n-grams and a linear head: the `tfidf` baseline, as a model that reads the token
ids every run reads, so it trains, predicts, serves and is compared like any run.

The n-grams are those of the run's tokenizer, so unsegmented scripts need no word segmenter: word
pieces for English; for Chinese, characters with a BERT-style tokenizer (which splits them one
by one; those outside its vocabulary become [UNK] and are dropped, and MiniLM's English
vocabulary misses many) or words with multilingual-e5's SentencePiece. scikit-learn's
TfidfVectorizer fits the vocabulary and the IDF; this module computes the same vectors from
token ids in torch (sublinear tf, IDF, L2 norm; tests/test_tfidf.py compares the two).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from typing_extensions import override

from headstart.models.classifiers import CLASSIFIER_FILE, TextClassifier

MAX_NGRAMS = 3  # a key packs n token ids in base (vocabulary + 1): 3 fit in int64 for any vocabulary


def ngram_keys(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, special: torch.Tensor, ngrams: int, base: int
) -> torch.Tensor:
    """(batch, ~tokens × ngrams) keys of every run of 1..`ngrams` real tokens (neither padding nor a
    special token): Σ_j (id_j + 1) · base^j, unique per n-gram. -1 where there is no n-gram."""
    real = attention_mask.bool() & ~torch.isin(input_ids, special)
    shifted = input_ids.long() + 1
    key, whole = torch.zeros_like(shifted), torch.ones_like(real)
    keys = []
    for offset in range(ngrams):
        key = key[:, : shifted.shape[1] - offset] + shifted[:, offset:] * base**offset
        whole = whole[:, : real.shape[1] - offset] & real[:, offset:]
        keys.append(torch.where(whole, key, torch.full_like(key, -1)))
    return torch.cat(keys, dim=1)


class TokenNgramTfidf(nn.Module):
    """Token ids → L2-normalised TF-IDF vectors over a fixed n-gram vocabulary (`keys`, sorted)."""

    keys: torch.Tensor  # buffers, registered below
    idf: torch.Tensor
    special: torch.Tensor

    def __init__(
        self, keys: torch.Tensor, idf: torch.Tensor, special: torch.Tensor, ngrams: int, base: int
    ) -> None:
        super().__init__()
        order = torch.argsort(keys)
        self.register_buffer("keys", keys.long()[order])
        self.register_buffer("idf", idf.float()[order])
        self.register_buffer("special", special.long())
        self.ngrams, self.base = ngrams, base
        self.order = order  # where each of the given keys went, to lay a head's columns out alike

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        keys = ngram_keys(input_ids, attention_mask, self.special, self.ngrams, self.base)
        columns = torch.searchsorted(self.keys, keys).clamp(max=len(self.keys) - 1)
        known = (self.keys[columns] == keys).float()
        counts = torch.zeros((len(keys), len(self.keys)), device=keys.device).scatter_add_(1, columns, known)
        tf = torch.where(counts > 0, 1 + torch.log(counts.clamp(min=1)), counts)  # sublinear tf
        vectors = tf * self.idf
        return vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)


class TfidfClassifier(TextClassifier):
    """TF-IDF of token n-grams and a linear head: the `tfidf` strategy's. Saved as one safetensors
    file (the n-gram keys, IDF, special ids and head) beside classifier.json; nothing pickled."""

    kind = "tfidf-linear"
    inference_batch_size = 128
    WEIGHTS_FILE = "tfidf.safetensors"
    FIELDS: ClassVar[tuple[str, ...]] = ("keys", "idf", "special")

    def __init__(self, vectoriser: TokenNgramTfidf, head: nn.Linear) -> None:
        super().__init__()
        self.vectoriser = vectoriser
        self.head = head

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.vectoriser(input_ids, attention_mask))

    @override
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {name: getattr(self.vectoriser, name) for name in self.FIELDS}
        tensors |= {"head.weight": self.head.weight.detach(), "head.bias": self.head.bias.detach()}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(directory / self.WEIGHTS_FILE))
        self._write_kind(directory, ngrams=self.vectoriser.ngrams, base=self.vectoriser.base)

    @classmethod
    @override
    def load(cls, directory: Path, allow_pickle: bool = False) -> TfidfClassifier:
        facts = json.loads((directory / CLASSIFIER_FILE).read_text(encoding="utf-8"))
        saved = load_file(str(directory / cls.WEIGHTS_FILE))
        keys, idf, special = (saved[name] for name in cls.FIELDS)
        vectoriser = TokenNgramTfidf(keys, idf, special, facts["ngrams"], facts["base"])
        head = nn.Linear(saved["head.weight"].shape[1], saved["head.weight"].shape[0])
        head.load_state_dict({"weight": saved["head.weight"], "bias": saved["head.bias"]})
        return cls(vectoriser, head)
