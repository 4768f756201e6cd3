"""Small modules the classifiers are built from: the layer-mix head, the cosine head of
zero-shot runs, and the static encoder of `static` runs."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn
from typing_extensions import override


class ScalarMixHead(nn.Module):
    """ELMo's scalar mix (Peters et al. 2018): γ · Σ softmax(s)_l · h_l over layers, then LayerNorm
    and a linear layer. Pooling is linear, so mixing pooled layers equals pooling the mixed layer."""

    def __init__(self, layers: int, dim: int, classes: int) -> None:
        super().__init__()
        self.mix_logits = nn.Parameter(torch.zeros(layers))
        self.gamma = nn.Parameter(torch.ones(()))
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, classes)

    def mix_weights(self) -> torch.Tensor:
        """The softmax weights of the layers."""
        return torch.softmax(self.mix_logits, dim=0)

    @override
    def forward(self, layer_embeddings: torch.Tensor) -> torch.Tensor:
        # layer_embeddings: (batch, layers, dim) -> mixed: (batch, dim)
        mixed = self.gamma * torch.einsum("l,bld->bd", self.mix_weights(), layer_embeddings)
        return self.linear(self.norm(mixed))


class CosineHead(nn.Module):
    """Logits = scale · cos(text embedding, each label's embedding)."""

    label_embeddings: torch.Tensor  # buffers, registered below
    scale: torch.Tensor

    def __init__(self, label_embeddings: torch.Tensor, scale: float | torch.Tensor = 20.0) -> None:
        super().__init__()
        self.register_buffer(
            "label_embeddings", torch.nn.functional.normalize(label_embeddings.float(), dim=-1)
        )
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    @override
    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.nn.functional.normalize(embeddings, dim=-1) @ self.label_embeddings.T


class StaticEncoder(nn.Module):
    """A static model (model2vec, Tulkens & van Dongen 2024): one vector per token, a text's
    embedding the mean over its tokens. No attention and no layers, so it embeds tens of
    thousands of texts a second on a CPU. `weights` is 0 for tokens that carry no vector (special
    and unused tokens) and 1 for the others, until a trained head learns them."""

    weights: torch.Tensor  # a buffer, or a parameter when trainable

    def __init__(self, vectors: torch.Tensor, weights: torch.Tensor, trainable: bool = False) -> None:
        super().__init__()
        self.vectors = nn.Embedding.from_pretrained(vectors.float(), freeze=not trainable)
        if trainable:  # the trained head's (model2vec's recipe): vectors and weights learn with it
            self.weights = nn.Parameter(weights.float())
        else:
            self.register_buffer("weights", weights.float())

    def get_input_embeddings(self) -> nn.Embedding:
        """The token vectors, as a transformers model gives its token embeddings."""
        return self.vectors

    def set_input_embeddings(self, embedding: nn.Module) -> None:
        """Swapped by the training loop for the rows of the training texts' tokens alone
        (`training.embedding_rows`, an `nn.Embedding` look-alike), and back after training."""
        self.vectors = cast(nn.Embedding, embedding)

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        counts = self.weights[input_ids] * attention_mask  # (batch, tokens): which tokens count
        total = (self.vectors(input_ids) * counts.unsqueeze(-1)).sum(dim=1)
        return total / counts.sum(dim=1, keepdim=True).clamp(min=1e-9)


def static_mlp_head(dim: int, hidden: int, classes: int) -> nn.Sequential:
    """model2vec's classifier head: one hidden ReLU layer (Kaiming-initialised), then a
    Xavier-initialised output layer, zero biases."""
    inner, outer = nn.Linear(dim, hidden), nn.Linear(hidden, classes)
    nn.init.kaiming_uniform_(inner.weight, nonlinearity="relu")
    nn.init.xavier_uniform_(outer.weight)
    for bias in (inner.bias, outer.bias):
        nn.init.zeros_(bias)
    return nn.Sequential(inner, nn.ReLU(), outer)
