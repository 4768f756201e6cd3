"""Texts to token ids (truncated or cut into windows), batched by length and padded per batch only
to its own longest row; the same batching serves training, evaluation and prediction."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from headstart.config import TrainConfig
from headstart.devices import CPU, Placement
from headstart.progress import progress_bar

SHORT_TEXT_TOKENS = 128
Tokenizer = Any  # a transformers tokenizer: called on texts, it gives lists of token ids


@dataclass(frozen=True)
class Encoded:
    """Token ids per row (already truncated), optional class ids, and optional class ids of further
    label columns (one tuple per row; multi-task training).

    A row is a whole text, or with windowing one window of a long text: `doc_ids` then names the
    text of each row, and labels are repeated on every window of their text.
    """

    input_ids: list[list[int]]
    label_ids: list[Any] | None = (
        None  # the task's targets: class ids, multi-hot rows, numbers, or tag ids per token
    )
    extra_label_ids: list[tuple[int, ...]] | None = None
    doc_ids: list[int] | None = None
    word_ids: list[list[int | None]] | None = None  # per token, its word in the text (token tasks)
    text_words: list[int] | None = None  # words per text (token tasks)

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        """Tokens per row."""
        return [len(ids) for ids in self.input_ids]

    def pool(self, logits: torch.Tensor, how: str = "mean") -> torch.Tensor:
        """Per-row outputs → per-text outputs: the mean (or max) over each text's windows."""
        if self.doc_ids is None:
            return logits
        index = torch.tensor(self.doc_ids)
        texts = int(index.max()) + 1
        spread = index.unsqueeze(1).expand_as(logits)
        if how == "max":
            return torch.full((texts, logits.shape[1]), -torch.inf, dtype=logits.dtype).scatter_reduce(
                0, spread, logits, "amax"
            )
        total = torch.zeros((texts, logits.shape[1]), dtype=logits.dtype).index_add_(0, index, logits)
        return total / torch.bincount(index, minlength=texts).unsqueeze(1).to(logits.dtype)


def choose_max_length(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    percentile: float,
    model_limit: int,
    pairs: Sequence[str] | None = None,
) -> int:
    """Truncation length from the data: a percentile of token lengths, rounded up to 8, capped by
    the model. Short texts are never cut: when the longest fits in SHORT_TEXT_TOKENS, batches
    padded to their own longest row make the full length almost free, and the words a percentile
    would drop are a short text's signal."""
    encoded = tokenizer(
        list(texts),
        None if pairs is None else list(pairs),
        add_special_tokens=True,
        truncation=False,
        verbose=False,
    )
    lengths = [len(ids) for ids in encoded["input_ids"]]
    longest = max(lengths, default=8)
    kept = longest if longest <= SHORT_TEXT_TOKENS else np.percentile(lengths, percentile)
    wanted = int(math.ceil(kept / 8) * 8)
    return max(8, min(wanted, model_limit))


@dataclass(frozen=True)
class Windowing:
    """How texts become model inputs: truncated at `max_length` tokens, or with `stride` cut into
    windows of `max_length` that overlap by `stride` tokens, whose outputs are pooled (`pool`)."""

    max_length: int
    stride: int | None = None
    pool: str = "mean"

    @classmethod
    def from_config(cls, config: TrainConfig) -> Windowing:
        """The windowing a resolved config asks for."""
        assert config.max_length is not None  # resolved by train() before any encoding
        return cls(config.max_length, config.stride, config.pool)


def split_pairs(inputs: Sequence[Any]) -> tuple[list[str], list[str] | None]:
    """Model inputs (texts, or (text, second text) pairs) as texts and second texts."""
    if not inputs or isinstance(inputs[0], str):
        return list(inputs), None
    texts, pairs = zip(*inputs, strict=True)
    return list(texts), list(pairs)


def encode(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    window: Windowing | int,
    label_ids: list[Any] | None = None,
    extra_label_ids: list[tuple[int, ...]] | None = None,
    pairs: Sequence[str] | None = None,
) -> Encoded:
    """Token ids of texts (or of text pairs, encoded together as the model expects)."""
    window = window if isinstance(window, Windowing) else Windowing(window)
    options = {
        "add_special_tokens": True,
        "truncation": True,
        "max_length": window.max_length,
        "return_attention_mask": False,  # built per batch; skipping them here halves tokenising time
        "return_token_type_ids": False,
    }
    if window.stride is None:
        if getattr(tokenizer, "is_fast", False):
            return Encoded(_fast_ids(tokenizer, texts, window.max_length, pairs), label_ids, extra_label_ids)
        ids = tokenizer(list(texts), None if pairs is None else list(pairs), **options)["input_ids"]
        return Encoded(ids, label_ids, extra_label_ids)
    windows = tokenizer(list(texts), **options, stride=window.stride, return_overflowing_tokens=True)
    docs = list(windows["overflow_to_sample_mapping"])
    return Encoded(
        windows["input_ids"],
        None if label_ids is None else [label_ids[d] for d in docs],
        None if extra_label_ids is None else [extra_label_ids[d] for d in docs],
        docs,
    )


def _fast_ids(
    tokenizer: Tokenizer, texts: Sequence[str], max_length: int, pairs: Sequence[str] | None
) -> list[list[int]]:
    """Token ids straight from the Rust tokenizer, set up as transformers sets it for
    `truncation=True` (longest first): the same ids, without building an Encoding object per text
    in Python (which cost a static model a third of its prediction time)."""
    backend = tokenizer.backend_tokenizer
    backend.no_padding()
    backend.enable_truncation(max_length)
    inputs = list(texts) if pairs is None else list(zip(texts, pairs, strict=True))
    return [encoding.ids for encoding in backend.encode_batch(inputs, add_special_tokens=True)]


def encode_words(
    tokenizer: Tokenizer,
    words: Sequence[list[str]],
    window: Windowing,
    word_label_ids: list[Any] | None = None,
) -> Encoded:
    """Token ids of pre-split words, each word's label on its first sub-token and -100 (ignored by
    the loss) on the others and on special tokens; with a stride, overlapping windows."""
    options: dict[str, Any] = {
        "is_split_into_words": True,
        "truncation": True,
        "max_length": window.max_length,
    }
    if window.stride is not None:
        options.update(stride=window.stride, return_overflowing_tokens=True)
    batch = tokenizer([list(row) for row in words], **options)
    rows = len(batch["input_ids"])
    docs = list(batch["overflow_to_sample_mapping"]) if window.stride is not None else list(range(rows))
    word_ids = [batch.word_ids(row) for row in range(rows)]
    labels = None
    if word_label_ids is not None:
        labels = [
            [
                -100
                if word is None or (position and ids[position - 1] == word)
                else word_label_ids[doc][word]
                for position, word in enumerate(ids)
            ]
            for ids, doc in zip(word_ids, docs, strict=True)
        ]
    return Encoded(
        batch["input_ids"],
        labels,
        None,
        docs if window.stride is not None else None,
        word_ids=word_ids,
        text_words=[len(row) for row in words],
    )


Row = tuple[
    list[int], Any, tuple[int, ...] | None, int
]  # token ids, target (-1: none), extra class ids, row index


def pad_batch(rows: list[Row], pad_id: int) -> dict[str, torch.Tensor]:
    """Rows padded to the batch's longest row: ids, attention mask, labels, row indices."""
    longest = max(len(row[0]) for row in rows)
    input_ids = torch.tensor([list(ids) + [pad_id] * (longest - len(ids)) for ids, _, _, _ in rows])
    lengths = torch.tensor([len(ids) for ids, _, _, _ in rows])
    attention_mask = (torch.arange(longest) < lengths.unsqueeze(1)).long()
    targets = [label for _, label, _, _ in rows]
    if isinstance(targets[0], list) and (
        not targets[0] or isinstance(targets[0][0], int)
    ):  # a tag id per token
        targets = [row + [-100] * (longest - len(row)) for row in targets]
    labels = torch.tensor(targets)
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels.float() if labels.is_floating_point() else labels.long(),
        "index": torch.tensor([index for _, _, _, index in rows], dtype=torch.long),
    }
    if rows[0][2] is not None:
        batch["extra_labels"] = torch.tensor(
            [extra for _, _, extra, _ in rows], dtype=torch.long
        )  # (batch, columns)
    return batch


class EncodedDataset(torch.utils.data.Dataset):
    """Encoded rows as a torch Dataset of (ids, target, extra class ids, row index)."""

    def __init__(self, encoded: Encoded) -> None:
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> Row:
        label = self.encoded.label_ids[index] if self.encoded.label_ids is not None else -1
        extra = self.encoded.extra_label_ids[index] if self.encoded.extra_label_ids is not None else None
        return self.encoded.input_ids[index], label, extra, index


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length in random order, so little compute goes to padding.

    Indices are shuffled, cut into pools of `pool_batches` batches, each pool sorted by length and
    cut into batches, and the batches shuffled again. The order depends only on (seed, epoch), so a
    resumed run replays exactly the batches an interrupted one would have seen.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True, pool_batches: int = 50
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.pool_batches = pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order to give next (the order follows seed and epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            order.sort(key=lambda i: -self.lengths[i])
            yield from (order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size))
            return
        rng = random.Random(self.seed * 100_003 + self.epoch)
        rng.shuffle(order)
        pool = self.batch_size * self.pool_batches
        batches: list[list[int]] = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: -self.lengths[i])
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        rng.shuffle(batches)
        yield from batches


def make_loader(
    encoded: Encoded, batch_size: int, pad_id: int, seed: int = 0, shuffle: bool = False
) -> torch.utils.data.DataLoader:
    """A DataLoader of length-grouped, per-batch padded batches."""
    sampler = LengthGroupedBatchSampler(encoded.lengths(), batch_size, seed, shuffle=shuffle)
    return torch.utils.data.DataLoader(
        EncodedDataset(encoded), batch_sampler=sampler, collate_fn=functools.partial(pad_batch, pad_id=pad_id)
    )


def _batch_outputs(
    forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    encoded: Encoded,
    batch_size: int,
    pad_id: int,
    description: str,
    show_progress: bool,
    placement: Placement,
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """(row indices, outputs on the CPU in fp32) per batch, longest rows first so each batch pads
    little; the forward pass runs where `placement` says."""
    with progress_bar(description, total=len(encoded), enabled=show_progress) as bar:
        for indices in LengthGroupedBatchSampler(encoded.lengths(), batch_size, seed=0, shuffle=False):
            batch = pad_batch([(encoded.input_ids[i], -1, None, i) for i in indices], pad_id)
            with placement.autocast():
                output = forward(*placement.inputs(batch["input_ids"], batch["attention_mask"]))
            yield indices, output.float().cpu()
            bar.advance(len(indices))


@torch.inference_mode()
def forward_in_batches(
    forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    encoded: Encoded,
    batch_size: int,
    pad_id: int,
    description: str = "Predicting",
    show_progress: bool = True,
    placement: Placement = CPU,
) -> torch.Tensor:
    """Run `forward` over all rows in length-sorted batches; its outputs (rows, ...) in input order."""
    rows: list[torch.Tensor] = [torch.empty(0)] * len(encoded)
    batches = _batch_outputs(forward, encoded, batch_size, pad_id, description, show_progress, placement)
    for indices, output in batches:
        for position, index in enumerate(indices):
            rows[index] = output[position]
    return torch.stack(rows)


@torch.inference_mode()
def forward_per_token(
    forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    encoded: Encoded,
    batch_size: int,
    pad_id: int,
    description: str = "Predicting",
    show_progress: bool = True,
    placement: Placement = CPU,
) -> list[torch.Tensor]:
    """Like `forward_in_batches` for outputs per token: one (tokens, ...) tensor per row, unpadded."""
    rows: list[torch.Tensor] = [torch.empty(0)] * len(encoded)
    batches = _batch_outputs(forward, encoded, batch_size, pad_id, description, show_progress, placement)
    for indices, output in batches:
        for position, index in enumerate(indices):
            rows[index] = output[position, : len(encoded.input_ids[index])]
    return rows
