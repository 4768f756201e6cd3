"""Dropout that costs less on a CPU, in time and in memory, with the same distribution.

PyTorch's CPU dropout draws one random number per element (`bernoulli_`): at MiniLM's sizes that
is 10 % of a fine-tuning step. And its fused attention kernels refuse dropout, so with attention
dropout on (BERT's 0.1) SDPA falls back to the math kernel, which keeps each layer's attention
matrix, its dropout mask and the dropped matrix for the backward pass (~500 MiB at batch 32 × 128
tokens). Here:
- a keep mask is drawn as 16-bit numbers, four per 64-bit draw (p rounded to 1/65,536);
- the mask is kept as bytes, not as the float tensor a product would keep;
- attention is one autograd function that keeps q, k and v only, as flash attention does: its
  backward pass computes the probabilities and draws the masks again from the generator's state
  (a batch of shorter texts keeps its matrices instead, up to KEPT_ELEMENTS).
Used for training on a CPU only: CUDA's kernels already do dropout well.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from transformers import AttentionInterface, PreTrainedModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION = "headstart_cpu_dropout"  # the name the attention function is registered under


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """True where an element is kept (probability 1 − p), from the default CPU generator."""
    count = math.prod(shape)
    words = torch.randint(-(2**63), 2**63 - 1, ((count + 3) // 4,), dtype=torch.int64)
    return words.view(torch.int16)[:count].view(shape) >= round(p * 65536) - 32768


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:
        keep = keep_mask(x.shape, p)
        ctx.save_for_backward(keep)  # a byte per element, not the float mask autograd would keep
        ctx.scale = 1.0 / (1.0 - p)
        return (x * keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (keep,) = ctx.saved_tensors
        return (grad * keep).mul_(ctx.scale), None


class CpuDropout(nn.Dropout):
    """`nn.Dropout` with `_Dropout` on CPU tensors while training."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dropped `x` (as `nn.Dropout`)."""
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        result: torch.Tensor = _Dropout.apply(x, self.p)
        return result


CHUNK_ELEMENTS = 1 << 20  # of a score matrix at once (4 MiB): what attention holds beyond q, k, v


def _scores_per_text(q: torch.Tensor, k: torch.Tensor) -> int:
    """Elements of one text's score matrices: heads × query tokens × key tokens."""
    return q[0].numel() // q.shape[-1] * k.shape[-2]


def _chunks(batch: int, per_row: int) -> list[slice]:
    """Slices of the batch whose score matrices hold about CHUNK_ELEMENTS together."""
    size = max(1, CHUNK_ELEMENTS // per_row)
    return [slice(start, min(start + size, batch)) for start in range(0, batch, size)]


def _probabilities(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None, scale: float) -> torch.Tensor:
    scores = torch.matmul(q, k.transpose(-1, -2)).mul_(scale)
    if mask is not None:  # boolean (True: attend) or additive
        scores = (
            scores.masked_fill_(~mask, torch.finfo(scores.dtype).min)
            if mask.dtype == torch.bool
            else scores + mask
        )
    return torch.softmax(scores, dim=-1)


KEPT_ELEMENTS = 1 << 21  # of a batch's score matrices (8 MiB in fp32): up to this, they are kept


def _factor(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """The dropout's multiplier: 0 where dropped, 1 / (1 − p) where kept."""
    return keep_mask(shape, p).to(dtype).mul_(1.0 / (1.0 - p))


def _gradients(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    probabilities: torch.Tensor,
    factor: torch.Tensor,
    grad_out: torch.Tensor,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradients of q, k and v given the forward's probabilities and dropout factor."""
    grad_v = torch.matmul((probabilities * factor).transpose(-1, -2), grad_out)
    grad_probabilities = torch.matmul(grad_out, v.transpose(-1, -2)).mul_(factor)
    # softmax backward; masked positions have probability 0, so their gradient is 0 too
    row = (grad_probabilities * probabilities).sum(dim=-1, keepdim=True)
    grad_scores = grad_probabilities.sub_(row).mul_(probabilities).mul_(scale)
    return grad_scores @ k, grad_scores.transpose(-1, -2) @ q, grad_v


class _DropoutAttention(torch.autograd.Function):
    """softmax(q kᵀ · scale + mask), dropped, times v (shapes: batch, heads, tokens, width). Like
    flash attention it keeps only q, k, v (and the generator's state): the backward pass computes
    the probabilities and draws the masks again, a few texts at a time, so no layer's attention
    matrix outlives its own forward or backward step. A batch of shorter texts, whose matrices hold
    KEPT_ELEMENTS or fewer (16 texts of up to 104 tokens, for 12 heads), keeps its probabilities
    and dropout factors instead, up to 16 MiB a layer: computing them again cost 5 % of a step at
    16 × 9 tokens."""

    @staticmethod
    def forward(
        ctx: Any,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None,
        p: float,
        scale: float,
    ) -> torch.Tensor:
        ctx.p, ctx.scale = p, scale
        ctx.kept = q.shape[0] * _scores_per_text(q, k) <= KEPT_ELEMENTS
        if ctx.kept:
            probabilities = _probabilities(q, k, mask, scale)
            factor = _factor(probabilities.shape, p, q.dtype)
            ctx.save_for_backward(q, k, v, probabilities, factor)
            return torch.matmul(probabilities * factor, v)
        ctx.state = torch.get_rng_state()
        ctx.save_for_backward(q, k, v, mask)
        output = q.new_empty((*q.shape[:-1], v.shape[-1]))
        for rows in _chunks(q.shape[0], _scores_per_text(q, k)):
            part = None if mask is None else mask[rows] if mask.shape[0] > 1 else mask
            probabilities = _probabilities(q[rows], k[rows], part, scale)
            factor = _factor(probabilities.shape, p, q.dtype)
            output[rows] = torch.matmul(probabilities.mul_(factor), v[rows])
        return output

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        if ctx.kept:
            q, k, v, probabilities, factor = ctx.saved_tensors
            return (*_gradients(q, k, v, probabilities, factor, grad_out, ctx.scale), None, None, None)
        q, k, v, mask = ctx.saved_tensors
        grads = [torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)]
        with torch.random.fork_rng(devices=[]):  # the forward's masks again, in the same order
            torch.set_rng_state(ctx.state)
            for rows in _chunks(q.shape[0], _scores_per_text(q, k)):
                part = None if mask is None else mask[rows] if mask.shape[0] > 1 else mask
                probabilities = _probabilities(q[rows], k[rows], part, ctx.scale)
                factor = _factor(probabilities.shape, ctx.p, q.dtype)
                found = _gradients(
                    q[rows], k[rows], v[rows], probabilities, factor, grad_out[rows], ctx.scale
                )
                for grad, rows_grad in zip(grads, found, strict=True):
                    grad[rows] = rows_grad
        return grads[0], grads[1], grads[2], None, None, None


def attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention interface: `_DropoutAttention` for an encoder training on a CPU
    with dropout, SDPA (transformers' own function) for everything else."""
    plain = (
        dropout == 0.0
        or query.device.type != "cpu"
        or not torch.is_grad_enabled()
        or getattr(module, "is_causal", False)
        or key.shape[1] != query.shape[1]  # grouped heads
        or any(kwargs.get(name) is not None for name in ("position_bias", "cache", "softcap"))
    )
    if plain:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    output = _DropoutAttention.apply(query, key, value, attention_mask, dropout, scale)
    return output.transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION, attention)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)  # the masks SDPA gets (True: attend)


@contextmanager
def cpu_dropout(model: nn.Module) -> Iterator[None]:
    """While training on a CPU: `CpuDropout` for the model's dropout layers, and the attention
    function above for its transformers encoders that use SDPA; everything is put back after."""
    swapped = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Dropout
    ]
    encoders = [
        module
        for module in model.modules()
        if isinstance(module, PreTrainedModel)
        and module._supports_attention_backend
        and module.config._attn_implementation == "sdpa"
    ]
    for parent, name, child in swapped:
        setattr(parent, name, CpuDropout(child.p).train(child.training))
    for encoder in encoders:
        encoder.set_attn_implementation(ATTENTION)
    try:
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
        for encoder in encoders:
            encoder.set_attn_implementation("sdpa")
