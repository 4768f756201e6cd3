"""The feed-forward block's GELU and second linear layer as one autograd step, which keeps only
the GELU's input for the backward pass and computes the GELU again there.

Autograd keeps both the GELU's input (for its own gradient) and its output (for the linear
layer's weight gradient): two tensors of tokens × 4·width per layer, a quarter of all the
activations a BERT-style encoder keeps. Recomputing the GELU drops one of them: ~145 MiB for
MiniLM at batch 32 × 128 tokens, for ~4 % of a step. A batch of shorter texts, whose GELU input
has RECOMPUTED_ABOVE elements or fewer (16 texts of up to 170 tokens for MiniLM), keeps both as
autograd does, which saves 1-6 % of a step at 16 × 9-24 tokens. Used while training, for the
layers of BERT-style encoders (BERT, RoBERTa, XLM-R, e5, MiniLM) whose activation is the exact
GELU; the model is put back as it was after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from transformers.activations import GELUActivation

RECOMPUTED_ABOVE = 1 << 22  # elements of a layer's GELU input (16 MiB in fp32); smaller ones are kept


class _GeluLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return nn.functional.linear(nn.functional.gelu(x), weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        x, weight = ctx.saved_tensors
        # Under autocast (--mixed-precision) the forward multiplied in the gradient's dtype, and so
        # does this; autograd casts each gradient back to its input's dtype.
        weight, x_for_grad = weight.to(grad.dtype), x.to(grad.dtype)
        rows = grad.reshape(-1, grad.shape[-1])
        grad_weight = rows.t() @ nn.functional.gelu(x_for_grad).reshape(-1, x.shape[-1])
        grad_x = torch.ops.aten.gelu_backward(grad @ weight, x_for_grad)
        return grad_x, grad_weight, rows.sum(dim=0) if ctx.has_bias else None


class GeluLinear(nn.Linear):
    """linear(gelu(x)) with the weights of `linear` (the same parameters, under the same names)."""

    def __init__(self, linear: nn.Linear) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """gelu, then this layer."""
        if x.numel() <= RECOMPUTED_ABOVE:
            return nn.functional.linear(nn.functional.gelu(x), self.weight, self.bias)
        output: torch.Tensor = _GeluLinear.apply(x, self.weight, self.bias)
        return output


def _exact_gelu(activation: GELUActivation) -> bool:
    return type(activation) is GELUActivation and activation.act is nn.functional.gelu


def _holds_its_weights(dense: nn.Linear) -> bool:
    """A plain linear layer, not one whose weight a hook computes at each call (as torch's pruning
    does): `GeluLinear` reads the weight once, when it is swapped in."""
    return (
        type(dense) is nn.Linear and isinstance(dense.weight, nn.Parameter) and not dense._forward_pre_hooks
    )


def _feed_forwards(model: nn.Module) -> list[tuple[nn.Module, nn.Module, GELUActivation, nn.Linear]]:
    """(intermediate, output, the activation, the output's dense layer) of every BERT-style layer
    whose activation is the exact GELU."""
    found = []
    for layer in model.modules():
        intermediate, output = getattr(layer, "intermediate", None), getattr(layer, "output", None)
        activation = getattr(intermediate, "intermediate_act_fn", None)
        dense = getattr(output, "dense", None)
        if (
            isinstance(intermediate, nn.Module)
            and isinstance(output, nn.Module)
            and isinstance(activation, GELUActivation)
            and isinstance(dense, nn.Linear)
            and _exact_gelu(activation)
            and _holds_its_weights(dense)
        ):
            found.append((intermediate, output, activation, dense))
    return found


@contextmanager
def gelu_linear(model: nn.Module) -> Iterator[int]:
    """`GeluLinear` in every BERT-style feed-forward block while the block is used; yields how
    many blocks were changed."""
    blocks = _feed_forwards(model)
    for intermediate, output, _, dense in blocks:
        intermediate.intermediate_act_fn = nn.Identity()
        output.dense = GeluLinear(dense)
    try:
        yield len(blocks)
    finally:
        for intermediate, output, activation, dense in blocks:
            intermediate.intermediate_act_fn, output.dense = activation, dense
