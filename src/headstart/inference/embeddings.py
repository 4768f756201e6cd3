"""What a run's model makes of a text: the vector its last layer (the classification head) reads,
one per text, for maps of a run's data (`headstart map`). Any model works, fine-tuned or frozen,
transformer, static, TF-IDF or recurrent: the vector is caught by forward hooks, not by knowing
each architecture."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from headstart.encoding import encode, forward_in_batches, split_pairs
from headstart.errors import ConfigError
from headstart.inference.predictor import ModelPredictor, Predictor

# Vectors wider than any encoder's (TF-IDF's, up to 200,000 n-grams) are cut to PROJECTED
# dimensions by a seeded Gaussian random projection, which keeps distances (Johnson–Lindenstrauss).
MAX_WIDTH, PROJECTED = 4096, 256


@contextmanager
def last_layer_input(model: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Hooks on every layer that holds weights; the list it yields holds the input of the last
    such layer a forward pass ran, which is the head for a classifier."""
    caught: list[torch.Tensor] = []

    def catch(_module: nn.Module, args: tuple[Any, ...], _output: Any) -> None:
        caught[:] = [args[0]]

    leaves = [
        module
        for module in model.modules()
        if next(module.children(), None) is None
        and (next(module.parameters(), None) is not None or next(module.buffers(), None) is not None)
    ]
    handles = [leaf.register_forward_hook(catch) for leaf in leaves]
    try:
        yield caught
    finally:
        for handle in handles:
            handle.remove()


def head_inputs(
    predictor: Predictor, inputs: Sequence[Any], show_progress: bool = True
) -> tuple[np.ndarray, Any]:
    """One row per input: the vector the run's head reads (a long text's windows averaged), and
    the task's outputs (probabilities) from the same forward pass."""
    if not isinstance(predictor, ModelPredictor) or predictor.task.token_level:
        raise ConfigError(
            "Embeddings are read from one model classifying whole texts (not an ensemble, not NER)."
        )
    model = predictor.classifier
    projection: list[torch.Tensor] = []  # drawn on the first wide batch, the same for every batch
    logit_width: list[int] = []

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids, attention_mask)
        if not caught or caught[0].dim() != 2:
            raise ConfigError("This run's model has no head reading one vector per text to map.")
        vectors = caught[0].float()
        if vectors.shape[1] > MAX_WIDTH:
            if not projection:
                seeded = torch.Generator(device="cpu").manual_seed(0)
                gaussian = torch.randn(vectors.shape[1], PROJECTED, generator=seeded) / PROJECTED**0.5
                projection.append(gaussian.to(vectors.device))
            vectors = vectors @ projection[0]
        logit_width[:] = [logits.shape[1]]
        return torch.cat([vectors, logits.float()], dim=1)  # one pass gives both, split below

    texts, pairs = split_pairs(list(inputs))
    encoded = encode(predictor.tokenizer, texts, predictor.window, pairs=pairs)
    pad_id = predictor.tokenizer.pad_token_id
    with last_layer_input(model) as caught:
        rows = forward_in_batches(
            forward, encoded, predictor.batch_size, pad_id, "Embedding", show_progress, predictor.placement
        )
    vectors, logits = rows[:, : -logit_width[0]], rows[:, -logit_width[0] :]
    outputs = predictor.task.predict(encoded.pool(logits, predictor.window.pool))
    return encoded.pool(vectors, "mean").numpy(), outputs
