"""Tokenise once, batch by length, pad each batch only to its own longest text."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Sampler

from headstart.progress import progress_bar


@dataclass(frozen=True)
class Encoded:
    """Token ids per text (already truncated), optional class ids, and optional class ids of further
    label columns (one tuple per text; multi-task training)."""

    input_ids: list[list[int]]
    label_ids: list[int] | None = None
    extra_label_ids: list[tuple[int, ...]] | None = None

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def choose_max_length(tokenizer, texts: Sequence[str], percentile: float, model_limit: int) -> int:  # noqa: ANN001
    """Truncation length from the data: a percentile of token lengths, rounded up to 8, capped by the model."""
    lengths = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]]
    wanted = int(math.ceil(np.percentile(lengths, percentile) / 8) * 8)
    return max(8, min(wanted, model_limit))


def encode(tokenizer, texts: Sequence[str], max_length: int, label_ids: list[int] | None = None,  # noqa: ANN001
           extra_label_ids: list[tuple[int, ...]] | None = None) -> Encoded:
    ids = tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=max_length)["input_ids"]
    return Encoded(ids, label_ids, extra_label_ids)


Row = tuple[list[int], int, tuple[int, ...] | None]  # token ids, class id (-1: none), extra class ids


def pad_batch(rows: list[Row], pad_id: int) -> dict[str, torch.Tensor]:
    longest = max(len(ids) for ids, _, _ in rows)
    input_ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for row, (ids, _, _) in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask,
             "labels": torch.tensor([label for _, label, _ in rows], dtype=torch.long)}
    if rows[0][2] is not None:
        batch["extra_labels"] = torch.tensor([extra for _, _, extra in rows], dtype=torch.long)  # (batch, columns)
    return batch


class EncodedDataset(torch.utils.data.Dataset):
    def __init__(self, encoded: Encoded) -> None:
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> Row:
        label = self.encoded.label_ids[index] if self.encoded.label_ids is not None else -1
        extra = self.encoded.extra_label_ids[index] if self.encoded.extra_label_ids is not None else None
        return self.encoded.input_ids[index], label, extra


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length in random order, so little compute goes to padding.

    Indices are shuffled, cut into pools of `pool_batches` batches, each pool sorted by length and
    cut into batches, and the batches shuffled again. The order depends only on (seed, epoch), so a
    resumed run replays exactly the batches an interrupted one would have seen.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, shuffle: bool = True, pool_batches: int = 50) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.pool_batches = pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
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
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: -self.lengths[i])
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        rng.shuffle(batches)
        yield from batches


def make_loader(encoded: Encoded, batch_size: int, pad_id: int, seed: int = 0, shuffle: bool = False) -> torch.utils.data.DataLoader:
    sampler = LengthGroupedBatchSampler(encoded.lengths(), batch_size, seed, shuffle=shuffle)
    return torch.utils.data.DataLoader(
        EncodedDataset(encoded), batch_sampler=sampler, collate_fn=functools.partial(pad_batch, pad_id=pad_id)
    )


@torch.inference_mode()
def forward_in_batches(
    forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    encoded: Encoded,
    batch_size: int,
    pad_id: int,
    description: str = "Predicting",
    show_progress: bool = True,
) -> torch.Tensor:
    """Run `forward` over all texts, longest first (tight padding), and return rows in input order."""
    outputs: list[torch.Tensor] = []
    order: list[int] = []
    with progress_bar(description, total=len(encoded), enabled=show_progress) as bar:
        for indices in LengthGroupedBatchSampler(encoded.lengths(), batch_size, seed=0, shuffle=False):
            batch = pad_batch([(encoded.input_ids[i], -1, None) for i in indices], pad_id)
            outputs.append(forward(batch["input_ids"], batch["attention_mask"]).float())
            order.extend(indices)
            bar.advance(len(indices))
    stacked = torch.cat(outputs)
    result = torch.empty_like(stacked)
    result[torch.tensor(order)] = stacked
    return result
