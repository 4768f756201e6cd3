"""Sentence embeddings from an encoder: mean pooling over real tokens, of the last or every layer."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from headstart.devices import CPU, Placement
from headstart.encoding import encode, forward_in_batches


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of each row's token states over its real tokens."""
    # hidden: (batch, tokens, dim); padding tokens must not count in the average.
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def embed(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence embeddings: the encoder's last hidden states, mean-pooled over real tokens."""
    return mean_pool(
        encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state, attention_mask
    )


def embed_layers(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Every layer's mean-pooled output, embeddings included: (batch, layers + 1, dim)."""
    hidden_states = encoder(
        input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
    ).hidden_states
    return torch.stack([mean_pool(hidden, attention_mask) for hidden in hidden_states], dim=1)


def embed_texts(
    encoder: nn.Module,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    description: str = "Embedding",
    batch_size: int = 16,
    show_progress: bool = True,
    placement: Placement = CPU,
) -> torch.Tensor:
    """Mean-pooled embeddings of raw texts (uncached: label descriptions, active-learning pools)."""
    encoded = encode(tokenizer, texts, max_length)
    forward = functools.partial(embed, encoder)
    output = forward_in_batches(
        forward, encoded, batch_size, tokenizer.pad_token_id, description, show_progress, placement
    )
    assert isinstance(output, torch.Tensor)
    return output
