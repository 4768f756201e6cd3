"""Are explanations faithful? Erase each text's k highest-scored words and measure how much the
explained label's probability drops, against erasing k words drawn at random from those the model
reads (comprehensiveness, DeYoung et al. 2020; its mean over k is the AOPC, Samek et al. 2017).
A faithful method drops it more than chance does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

KS = (1, 3, 5, 10)


class Explained(Protocol):
    """What the measure reads of an explanation (`inference.explain.Explanation` has it)."""

    text: str
    spans: list[tuple[int, int]]
    scores: list[float]
    read: int  # the words the model reads: the first `read`
    label_index: int
    probability: float


def erase(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """The text with the words at `spans` erased."""
    pieces, position = [], 0
    for start, end in sorted(spans):
        pieces.append(text[position:start])
        position = end
    return "".join(pieces) + text[position:]


def deletion_drops(
    explanations: Sequence[Explained],
    probabilities: Callable[[list[str]], np.ndarray],
    ks: Sequence[int] = KS,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean drop of the label's probability after erasing the top-k words and k random words
    (of those the model reads), per k, and their means over k (AOPC)."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    for explanation in explanations:
        read = list(range(explanation.read))
        ranked = sorted(read, key=lambda i: -explanation.scores[i])
        for k in ks:
            chosen: list[int] = (
                rng.choice(read, size=min(k, len(read)), replace=False).tolist() if read else []
            )
            texts.append(erase(explanation.text, [explanation.spans[i] for i in ranked[:k]]))
            texts.append(erase(explanation.text, [explanation.spans[i] for i in chosen]))
    after = probabilities(texts)
    top = np.zeros((len(explanations), len(ks)))
    random = np.zeros_like(top)
    for row, explanation in enumerate(explanations):
        for column in range(len(ks)):
            position = 2 * (row * len(ks) + column)
            top[row, column] = explanation.probability - after[position, explanation.label_index]
            random[row, column] = explanation.probability - after[position + 1, explanation.label_index]
    return {
        "texts": len(explanations),
        "k": list(ks),
        "top_k_drop": top.mean(axis=0).round(4).tolist(),
        "random_k_drop": random.mean(axis=0).round(4).tolist(),
        "aopc_top": round(float(top.mean()), 4),
        "aopc_random": round(float(random.mean()), 4),
    }
