"""Structural edits of a transformers encoder: drop whole layers, cut attention heads out.

Models and blocks are typed Any: their attributes (config, query, output.dense, ...) are the
architecture's, which torch's typing cannot know."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.errors import ConfigError


def keep_layers(model: Any, count: int) -> list[int]:
    """Keep `count` of a transformers model's encoder layers, spread evenly with the first and the
    last kept; returns the kept indices."""
    total = model.config.num_hidden_layers
    if count > total:
        raise ConfigError(
            f"The teacher has {total} layers; ask for at most {total} (e.g. --layers {max(1, total // 2)})."
        )
    stacks = [
        module for module in model.modules() if isinstance(module, nn.ModuleList) and len(module) == total
    ]
    if not stacks:
        raise ConfigError(
            f"Cannot find the layer stack of this {model.config.model_type} "
            "model; distil into --student MODEL instead."
        )
    kept = sorted({int(round(i)) for i in np.linspace(0, total - 1, count)})
    layers = stacks[0]
    kept_modules = [layers[i] for i in kept]
    for index in range(total - 1, -1, -1):
        del layers[index]
    layers.extend(kept_modules)
    model.config.num_hidden_layers = len(kept)
    return kept


def attention_blocks(model: Any) -> list[Any]:
    """The attention modules of a BERT-family encoder, in layer order: `.self` holds query/key/value,
    `.output.dense` the output projection."""
    blocks = [
        m for m in model.modules() if hasattr(m, "self") and hasattr(m.self, "query") and hasattr(m, "output")
    ]
    if not blocks:
        raise ConfigError(
            f"Head pruning supports BERT-family encoders (BERT, RoBERTa, XLM-R, MiniLM, E5), not "
            f"'{model.config.model_type}'; use --sparsity instead."
        )
    return blocks


def remove_heads(block: Any, removed: list[int]) -> int:
    """Cut heads out of one attention block's query/key/value rows and output-projection columns;
    returns the heads it keeps."""
    attention = block.self
    size = attention.attention_head_size
    keep = [h for h in range(attention.num_attention_heads) if h not in set(removed)]
    rows = torch.cat([torch.arange(h * size, (h + 1) * size) for h in keep])
    for name in ("query", "key", "value"):
        setattr(attention, name, _select(getattr(attention, name), rows, dim=0))
    block.output.dense = _select(block.output.dense, rows, dim=1)
    attention.num_attention_heads = len(keep)
    attention.all_head_size = len(keep) * size
    return len(keep)


def shrink_to(model: Any, heads_per_layer: dict[str, int]) -> None:
    """Give layers the saved head counts of a pruned model (which heads does not matter: the saved
    weights are loaded over them)."""
    blocks = attention_blocks(model)
    for index, kept in heads_per_layer.items():
        remove_heads(blocks[int(index)], list(range(kept, blocks[int(index)].self.num_attention_heads)))


def _select(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A smaller copy of a linear layer: only the given output rows (dim 0) or input columns (dim 1)."""
    weight = linear.weight.detach().index_select(dim, index).clone()
    bias = linear.bias.detach().clone() if dim == 1 else linear.bias.detach()[index].clone()
    smaller = nn.Linear(weight.shape[1], weight.shape[0])
    smaller.weight, smaller.bias = nn.Parameter(weight), nn.Parameter(bias)
    return smaller


def restore_heads(model: Any) -> None:
    """Give every pruned attention block its full head count back, the restored heads' weights
    zero: their queries, keys and values are zero and the output projection ignores them, so the
    model computes exactly what the pruned one did, in the shapes its config declares."""
    full = model.config.num_attention_heads
    for block in attention_blocks(model):
        attention = block.self
        size, kept = attention.attention_head_size, attention.num_attention_heads
        if kept == full:
            continue
        for name in ("query", "key", "value"):
            setattr(attention, name, _padded(getattr(attention, name), full * size, dim=0))
        block.output.dense = _padded(block.output.dense, full * size, dim=1)
        attention.num_attention_heads = full
        attention.all_head_size = full * size


def _padded(linear: nn.Linear, size: int, dim: int) -> nn.Linear:
    """A larger copy of a linear layer: zero output rows (dim 0) or zero input columns (dim 1) added."""
    weight = linear.weight.detach()
    shape = (size, weight.shape[1]) if dim == 0 else (weight.shape[0], size)
    padded = torch.zeros(shape, dtype=weight.dtype)
    padded[: weight.shape[0], : weight.shape[1]] = weight
    bias = linear.bias.detach()
    if dim == 0:
        bias = torch.cat([bias, torch.zeros(size - bias.shape[0], dtype=bias.dtype)])
    larger = nn.Linear(shape[1], shape[0])
    larger.weight, larger.bias = nn.Parameter(padded), nn.Parameter(bias.clone())
    return larger
