"""Why did a run say that: a score per word of a text for the predicted (or a chosen) label.

Runs whose encoder trains by gradients (transformers classifiers) get Integrated Gradients on the
input embeddings (Sundararajan et al. 2017, through captum): the path from a baseline of padding
to the text, each token's share summed over its word. Every other run (frozen encoders, static,
TF-IDF, recurrent, ONNX, ensembles) gets occlusion: the drop in the label's probability when the
word is erased. Words beyond the model's window score 0 (the model never reads them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from headstart.data.ner import words_and_offsets
from headstart.errors import ConfigError
from headstart.evaluation.faithfulness import erase
from headstart.extras import optional
from headstart.inference.predictor import ModelPredictor, Predictor
from headstart.models.classifiers import SequenceClassifier

METHODS = ("ig", "occlusion")


@dataclass
class Explanation:
    """One text's attributions: its words, their character spans, a score per word."""

    text: str
    words: list[str]
    spans: list[tuple[int, int]]
    scores: list[float]  # > 0: the word supports the label; 0 beyond the model's window
    read: int  # the first `read` words are those the model reads
    label: str
    label_index: int
    probability: float  # the label's probability for the whole text
    method: str

    def to_dict(self) -> dict[str, Any]:
        """The explanation as JSON-ready values."""
        return {**asdict(self), "spans": [list(span) for span in self.spans]}


def default_method(predictor: Predictor) -> str:
    """Integrated Gradients where the model is differentiable end to end, else occlusion."""
    gradients = isinstance(predictor, ModelPredictor) and isinstance(predictor.classifier, SequenceClassifier)
    return "ig" if gradients else "occlusion"


def explain(
    predictor: Predictor,
    texts: list[str],
    method: str | None = None,
    label: str | None = None,
    steps: int = 32,
) -> list[Explanation]:
    """An explanation per text, for `label` or else each text's predicted label."""
    method = method or default_method(predictor)
    classes = predictor.task.classes
    if predictor.task.name != "classification":
        raise ConfigError(
            f"Explanations are for single-label classification runs, not {predictor.task.name}."
        )
    if method not in METHODS or (method == "ig" and default_method(predictor) != "ig"):
        raise ConfigError(
            f"Method '{method}' does not apply to this run; use {default_method(predictor)} "
            "(ig needs a run trained end to end by gradients, e.g. finetune or lora)."
        )
    if label is not None and label not in classes:
        raise ConfigError(f"Label '{label}' is not one of the run's labels {classes}.")
    probabilities = np.asarray(predictor.outputs(texts, show_progress=False))
    explained = []
    for text, row in zip(texts, probabilities, strict=True):
        index = classes.index(label) if label is not None else int(row.argmax())
        words, spans = words_and_offsets(text)
        read = words_read(predictor, words)
        if method == "ig":
            assert isinstance(predictor, ModelPredictor)  # default_method said so
            scores = integrated_gradients(predictor, words, index, steps)
        else:
            scores = occlusion(predictor, text, spans[:read], index, float(row[index]))
        scores = [*scores[:read], *[0.0] * (len(words) - read)]
        explained.append(
            Explanation(text, words, spans, scores, read, classes[index], index, float(row[index]), method)
        )
    return explained


def words_read(predictor: Predictor, words: list[str]) -> int:
    """How many of the words fit in the model's window (all of them for windowed or unknown runs)."""
    if not isinstance(predictor, ModelPredictor) or predictor.window.stride is not None or not words:
        return len(words)
    encoding = predictor.tokenizer(
        words, is_split_into_words=True, truncation=True, max_length=predictor.window.max_length
    )
    seen = [word for word in encoding.word_ids() if word is not None]
    return max(seen) + 1 if seen else 0


def occlusion(
    predictor: Predictor, text: str, spans: list[tuple[int, int]], index: int, full: float
) -> list[float]:
    """Each word's score: the label's probability minus that of the text without the word."""
    if not spans:
        return []
    erased = [erase(text, [span]) for span in spans]
    probabilities = np.asarray(predictor.outputs(erased, show_progress=False))[:, index]
    return [float(full - p) for p in probabilities]


def integrated_gradients(predictor: ModelPredictor, words: list[str], index: int, steps: int) -> list[float]:
    """Each word's Integrated Gradients of the label's probability w.r.t. the input embeddings,
    from an all-padding baseline (special tokens kept), summed over the word's tokens."""
    with optional("Integrated Gradients (headstart explain)"):
        from captum.attr import LayerIntegratedGradients

    if not words:
        return []
    classifier = predictor.classifier
    assert isinstance(classifier, SequenceClassifier)  # default_method checked it
    tokenizer, model = predictor.tokenizer, classifier.model
    encoding = tokenizer(
        words,
        is_split_into_words=True,
        truncation=True,
        max_length=predictor.window.max_length,
        return_tensors="pt",
        return_special_tokens_mask=True,
    )
    device = predictor.placement.device
    ids, mask = encoding["input_ids"].to(device), encoding["attention_mask"].to(device)
    special = encoding["special_tokens_mask"].bool().to(device)
    baseline = torch.where(special, ids, torch.full_like(ids, tokenizer.pad_token_id))

    def probability(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=input_ids, attention_mask=attention_mask.expand(len(input_ids), -1)).logits
        return torch.softmax(logits, dim=-1)

    attribution = LayerIntegratedGradients(probability, model.get_input_embeddings()).attribute(
        ids,
        baselines=baseline,
        target=index,
        additional_forward_args=(mask,),
        n_steps=steps,
        internal_batch_size=steps,
    )
    per_token = attribution.sum(dim=-1)[0].detach().cpu().numpy()
    scores = np.zeros(len(words))
    for position, word in enumerate(encoding.word_ids(0)):
        if word is not None:
            scores[word] += per_token[position]
    return scores.tolist()
