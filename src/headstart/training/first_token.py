"""The last encoder layer computed for the first token only, while a sequence classifier trains.

A BERT-style sequence classifier reads one vector: the last layer's output at the first token
([CLS], or <s>). The last layer's other outputs are computed and thrown away, and so is their
gradient: with 24-token texts that is a seventh of MiniLM's work. Here the last layer computes the
keys and values of every token (the first token attends to them) but the query, the attention
output and the feed-forward block of the first token only: the same classifier outputs and
gradients. The layer's forward is replaced on the instance while training, and put back after
(as accelerate's hooks do).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import MethodType
from typing import Any

import torch
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

# Heads that read the first token of the last layer and nothing else.
FIRST_TOKEN_HEADS = frozenset(
    {
        "BertForSequenceClassification",
        "RobertaForSequenceClassification",
        "XLMRobertaForSequenceClassification",
    }
)


def _first_token_forward(
    layer: Any,  # a BertLayer, or RoBERTa's or XLM-R's (the same parts)
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *_: Any,
    **__: Any,
) -> torch.Tensor:
    """The layer's output at the first token; the other positions keep the layer's input, which
    nothing reads."""
    attention, own = layer.attention, layer.attention.self
    first = hidden_states[:, :1]
    heads = (*hidden_states.shape[:-1], -1, own.attention_head_size)  # batch, tokens, heads, width
    query = own.query(first).view(heads[0], 1, *heads[2:]).transpose(1, 2)
    key = own.key(hidden_states).view(heads).transpose(1, 2)
    value = own.value(hidden_states).view(heads).transpose(1, 2)
    if attention_mask is not None and attention_mask.dim() == 4 and attention_mask.shape[2] > 1:
        attention_mask = attention_mask[:, :, :1]  # the first query's row
    context, _ = ALL_ATTENTION_FUNCTIONS[own.config._attn_implementation](
        own,
        query,
        key,
        value,
        attention_mask,
        dropout=own.dropout.p if own.training else 0.0,
        scaling=own.scaling,
    )
    attended = attention.output(context.reshape(*first.shape[:-1], -1), first)
    return torch.cat([layer.output(layer.intermediate(attended), attended), hidden_states[:, 1:]], dim=1)


def _last_layer(model: nn.Module) -> nn.Module | None:
    """The last encoder layer of a first-token sequence classifier inside `model`, or None."""
    module: Any
    for module in model.modules():
        config = getattr(module, "config", None)
        if type(module).__name__ in FIRST_TOKEN_HEADS and config is not None:
            encoder_only = not config.is_decoder and not config.add_cross_attention
            if encoder_only and config._attn_implementation in ALL_ATTENTION_FUNCTIONS:
                last: nn.Module = module.base_model.encoder.layer[-1]
                return last
    return None


@contextmanager
def first_token_only(model: nn.Module) -> Iterator[bool]:
    """While inside: the last layer of a first-token classifier computes the first token only;
    yields whether `model` is one."""
    layer = _last_layer(model)
    if layer is not None:
        layer.forward = MethodType(_first_token_forward, layer)
    try:
        yield layer is not None
    finally:
        if layer is not None:
            del layer.forward  # the class's own again
