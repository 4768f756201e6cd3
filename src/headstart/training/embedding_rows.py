"""Train only the token-embedding rows the training texts use.

Fine-tuning computes a gradient for the whole token-embedding table (MiniLM: 30,522 × 384, half
of its weights) and AdamW updates all of it, although every row of a token absent from the
training texts gets a zero gradient at every step, so AdamW never moves it (but for weight decay,
which shrinks it by lr × decay per step: about 0.02 % over a whole short run). Here those rows stay
in a frozen buffer and the rows of the tokens the training texts hold become one small trainable
matrix: the same updates for the rows that learn, without the dense gradient, its clipping and its
optimiser step over the table. After training, the rows are written back into the table, so the
saved model is a plain transformers model. `static`'s trained head does the same with its token
vectors.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from transformers import PreTrainedModel

from headstart.models.layers import StaticEncoder


class SeenRows(nn.Module):
    """An `nn.Embedding` whose rows for `token_ids` train and whose other rows are frozen."""

    table: torch.Tensor  # (vocabulary, width), frozen
    slot: torch.Tensor  # (vocabulary,): a token's row in `rows`, or -1
    token_ids: torch.Tensor  # (trained rows,): the token of each row of `rows`

    def __init__(self, embedding: nn.Embedding, token_ids: torch.Tensor) -> None:
        super().__init__()
        self.padding_idx = embedding.padding_idx
        self.register_buffer("table", embedding.weight.detach())
        slot = torch.full((embedding.num_embeddings,), -1, dtype=torch.long, device=embedding.weight.device)
        slot[token_ids] = torch.arange(len(token_ids), device=slot.device)
        self.register_buffer("slot", slot)
        self.register_buffer("token_ids", token_ids, persistent=False)
        self.rows = nn.Parameter(embedding.weight.detach()[token_ids].clone())

    @property
    def weight(self) -> torch.Tensor:
        """The whole table as it is now (what transformers reads, e.g. for its size)."""
        return self.table.index_copy(0, self.token_ids, self.rows.detach())

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Each token's row: the trained one for the tokens of the training texts, else the table's."""
        slot = self.slot[input_ids]
        # embedding(), not rows[slot]: indexing's backward adds a CPU batch's rows in parallel, in
        # no fixed order, so a run did not repeat itself (by 1e-8 in fp32, 1e-5 in bf16).
        seen = nn.functional.embedding(slot.clamp(min=0), self.rows)
        if bool((slot >= 0).all()):  # every training batch: one gather, no mask
            return seen
        return torch.where((slot >= 0).unsqueeze(-1), seen, self.table[input_ids])

    def merged(self) -> nn.Embedding:
        """A plain embedding holding the trained rows, trainable if they are (gradual unfreezing
        may have frozen them)."""
        frozen = not self.rows.requires_grad
        embedding = nn.Embedding.from_pretrained(self.weight, freeze=frozen, padding_idx=self.padding_idx)
        return embedding.to(self.rows.device)


def input_embedding_owner(model: nn.Module) -> PreTrainedModel | StaticEncoder | None:
    """The outermost transformers model (or static model) inside `model`: it gets and sets the
    token embeddings."""
    return next((m for m in model.modules() if isinstance(m, (PreTrainedModel, StaticEncoder))), None)


def train_seen_rows(model: nn.Module, token_lists: Iterable[list[int]]) -> int:
    """Swap the model's token embeddings for `SeenRows` over the tokens of `token_lists` when the
    table trains; returns how many rows train (0: the table is frozen or not swappable)."""
    owner = input_embedding_owner(model)
    embedding = owner.get_input_embeddings() if owner is not None else None
    if owner is None or not isinstance(embedding, nn.Embedding) or not embedding.weight.requires_grad:
        return 0
    seen = sorted({token for tokens in token_lists for token in tokens})
    ids = torch.tensor(seen, dtype=torch.long, device=embedding.weight.device)
    owner.set_input_embeddings(SeenRows(embedding, ids))
    return len(seen)


def merge_seen_rows(model: nn.Module) -> None:
    """Write the trained rows back: the model holds a plain `nn.Embedding` again."""
    owner = input_embedding_owner(model)
    if owner is not None and isinstance(embedding := owner.get_input_embeddings(), SeenRows):
        owner.set_input_embeddings(embedding.merged())
