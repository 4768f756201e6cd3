"""The embeddings and the bottom K encoder layers kept as they are, their outputs computed once.

With those weights frozen, every epoch would compute the same bottom-layer outputs for the same
texts again. Here they are computed once for the training and dev texts (as at inference: frozen
layers get no dropout) and kept on the CPU. While training, the embeddings' output is replaced by
the text's cached states and the bottom layers pass their input on, so a step computes the top
layers only, forward and backward. Afterwards every layer computes again: the saved model is a
plain transformers model. Memory: rows × tokens × hidden × 4 bytes (bbc-titles on MiniLM: ~40 MB).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.encoding import Encoded, make_loader
from headstart.errors import ConfigError
from headstart.training.embedding_rows import input_embedding_owner


def _parts(model: nn.Module) -> tuple[Any, nn.Module, nn.ModuleList]:
    """The transformers model that owns the encoder, its embeddings block and its layer stack
    (`api.resolve_config` has checked that the stack is deeper than what is frozen)."""
    owner: Any = input_embedding_owner(model)
    total = int(getattr(getattr(owner, "config", None), "num_hidden_layers", 0) or 0)
    stacks = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == total > 0]
    words = owner.get_input_embeddings() if owner is not None else None
    blocks = [m for m in model.modules() if getattr(m, "word_embeddings", None) is words is not None]
    if not stacks or not blocks:
        raise ConfigError(
            "--freeze-layers needs a BERT-family encoder (BERT, RoBERTa, XLM-R, MiniLM, E5, "
            "DistilBERT, MPNet) trained by a strategy such as finetune, lora or bitfit; drop it."
        )
    return owner, blocks[0], stacks[0]


def freeze_bottom_layers(model: nn.Module, count: int) -> None:
    """Stop the gradients of all that the bottom `count` layers compute from, so their cached
    outputs stay true: the embeddings, those layers (LoRA's weights in them included) and what the
    encoder shares between its layers (MPNet's relative attention bias)."""
    _, embeddings, layers = _parts(model)
    encoder = next(m for m in model.modules() if any(child is layers for child in m.children()))
    shared = [child for child in encoder.children() if child is not layers]
    for module in (embeddings, *shared, *layers[:count]):
        module.requires_grad_(False)
    for parameter in encoder.parameters(recurse=False):
        parameter.requires_grad_(False)


@contextmanager
def _passing_on(layers: list[nn.Module], as_tuple: Callable[[], bool]) -> Iterator[None]:
    """While inside, `layers` compute nothing and return their input, in a tuple when the
    architecture's layers return one (`as_tuple`, asked at each call). The module tree stays as it
    is, so checkpoints hold the whole model."""

    def passing_on(hidden_states: torch.Tensor, *_: Any, **__: Any) -> Any:
        return (hidden_states,) if as_tuple() else hidden_states

    for layer in layers:
        layer.forward = passing_on
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward  # the class's own again


def _row_lengths(input_ids: np.ndarray, pad_id: int) -> np.ndarray:
    """Each padded row's length: up to its last token that is not padding."""
    real = input_ids != pad_id
    return input_ids.shape[1] - np.argmax(real[:, ::-1], axis=1)


@torch.no_grad()  # not inference_mode: the states are inputs of the steps' autograd graph
def _bottom_states(
    model: nn.Module,
    owner: Any,
    layers: nn.ModuleList,
    count: int,
    rows: list[Encoded],
    pad_id: int,
    batch_size: int,
) -> tuple[dict[bytes, torch.Tensor], bool]:
    """The output of the bottom `count` layers for every text of `rows`, on the CPU, by token ids;
    and whether the architecture's layers return tuples."""
    base, device, training = owner.base_model, owner.device, model.training
    states: dict[bytes, torch.Tensor] = {}
    outputs: list[Any] = []
    probe = layers[0].register_forward_hook(lambda _, __, output: outputs.append(type(output)))
    model.eval()
    try:
        with _passing_on(list(layers[count:]), lambda: outputs[0] is tuple):
            for encoded in rows:
                for batch in make_loader(encoded, batch_size, pad_id):
                    ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
                    hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state.cpu()
                    lengths = mask.sum(1).tolist()
                    for row, tokens, length in zip(hidden, ids.cpu().numpy(), lengths, strict=True):
                        states[tokens[:length].tobytes()] = row[:length].clone()
    finally:
        probe.remove()
        model.train(training)
    return states, bool(outputs) and outputs[0] is tuple


@contextmanager
def cached_bottom_layers(
    model: nn.Module, count: int, rows: list[Encoded], pad_id: int, batch_size: int
) -> Iterator[dict[str, Any]]:
    """While inside, `model` reads the bottom `count` layers' outputs of the texts of `rows` from a
    cache and computes the top layers only; yields what the cache holds (for the fit's report)."""
    if count == 0:
        yield {}
        return
    owner, embeddings, layers = _parts(model)
    states, as_tuple = _bottom_states(model, owner, layers, count, rows, pad_id, batch_size)

    def cached(_: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: torch.Tensor) -> Any:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        assert input_ids is not None, "cached layers read the token ids"
        ids = input_ids.cpu().numpy()
        replaced = output.new_zeros(output.shape)
        for index, (tokens, length) in enumerate(zip(ids, _row_lengths(ids, pad_id), strict=True)):
            row = states[tokens[:length].tobytes()]
            replaced[index, : len(row)] = row.to(output.device, non_blocking=True)
        return replaced

    hook = embeddings.register_forward_hook(cached, with_kwargs=True)
    size = sum(row.numel() * row.element_size() for row in states.values())
    try:
        with _passing_on(list(layers[:count]), lambda: as_tuple):
            yield {"frozen_layers": count, "cached_texts": len(states), "cached_mib": round(size / 2**20, 1)}
    finally:
        hook.remove()
