"""Text classifiers a strategy produces and a run directory stores.

Every classifier maps (input_ids, attention_mask) to logits and saves itself with safetensors
beside a `classifier.json` that names its kind, so `models.saved.load_classifier` can rebuild it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)
from typing_extensions import override

from headstart.models.embeddings import embed, embed_layers
from headstart.models.layers import CosineHead, ScalarMixHead, StaticEncoder, static_mlp_head
from headstart.models.surgery import shrink_to
from headstart.models.zoo import ENCODER_DIR, hf_files_dir
from headstart.tasks import Task

CLASSIFIER_FILE = "classifier.json"


def load_pretrained(loader: Any, path: Path, allow_pickle: bool, **kwargs: Any) -> Any:
    """A transformers Auto class (`loader`) loaded safely: use_safetensors=True refuses pickled
    weights unless allowed, trust_remote_code=False never runs a repository's code."""
    return loader.from_pretrained(path, use_safetensors=not allow_pickle, trust_remote_code=False, **kwargs)


def save_weights(module: nn.Module, path: Path) -> None:
    """A module's weights as one safetensors file (contiguous copies, detached from autograd)."""
    save_file({k: v.detach().contiguous() for k, v in module.state_dict().items()}, str(path))


class TextClassifier(nn.Module, ABC):
    """A saved, reloadable classifier: (input_ids, attention_mask) → logits."""

    kind: ClassVar[str]
    # Rows per forward pass at inference when larger than the run's eval batch: a model this cheap
    # per row spends its time in per-batch overhead otherwise.
    inference_batch_size: ClassVar[int] = 0

    @abstractmethod
    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits: (batch, outputs), or (batch, tokens, tags) for token tasks."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the weights (safetensors) and classifier.json into `directory`."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, allow_pickle: bool = False) -> TextClassifier:
        """The classifier `save` wrote into `directory`."""

    def _write_kind(self, directory: Path, **facts: object) -> None:
        (directory / CLASSIFIER_FILE).write_text(json.dumps({"kind": self.kind, **facts}), encoding="utf-8")


class TransformersClassifier(TextClassifier):
    """A transformers Auto*For* model: encoder and head trained together. The saved folder is a
    plain Hugging Face model, usable by `transformers.pipeline` as is."""

    auto_class: ClassVar[Any]  # a transformers Auto class

    def __init__(self, model: Any, attention_heads: dict[str, int] | None = None) -> None:
        super().__init__()
        self.model = model  # a transformers *For*Classification model
        # Heads kept per layer after head pruning (layer index → count); empty when none were pruned.
        self.attention_heads = attention_heads or {}

    @classmethod
    def from_encoder(
        cls, path: Path, task: Task, allow_pickle: bool = False, attention_dropout: float | None = None
    ) -> TransformersClassifier:
        """The encoder with a new head sized for the task; `attention_dropout` replaces the
        encoder's dropout on attention weights (None keeps it)."""
        # problem_type tells transformers (e.g. a pipeline using the saved folder) how to read the outputs.
        problem = {"multi-label": "multi_label_classification", "regression": "regression"}.get(
            task.name, "single_label_classification"
        )
        names = task.classes or ["value"]
        original = attention_dropout_rates(path) if attention_dropout is not None else {}
        dropout_settings = dict.fromkeys(original, attention_dropout)
        model = load_pretrained(
            cls.auto_class,
            path,
            allow_pickle,
            num_labels=task.outputs,
            id2label=dict(enumerate(names)),
            label2id={label: i for i, label in enumerate(names)},
            **({} if task.token_level else {"problem_type": problem}),
            **dropout_settings,
        )
        # The layers keep the rate they were built with; the saved config keeps the encoder's own,
        # so a model loaded from the run trains as the encoder would.
        for name, rate in original.items():
            setattr(model.config, name, rate)
        return cls(model)

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    @override
    def save(self, directory: Path) -> None:
        self.model.save_pretrained(directory)
        self._write_kind(
            directory, **({"attention_heads": self.attention_heads} if self.attention_heads else {})
        )

    @classmethod
    @override
    def load(cls, directory: Path, allow_pickle: bool = False) -> TransformersClassifier:
        heads = json.loads((directory / CLASSIFIER_FILE).read_text(encoding="utf-8")).get("attention_heads")
        if not heads:
            return cls(load_pretrained(cls.auto_class, directory, allow_pickle))
        # Head-pruned layers have smaller matrices than the config says: shrink them, then load.
        model = cls.auto_class.from_config(AutoConfig.from_pretrained(directory, trust_remote_code=False))
        shrink_to(model, heads)
        model.load_state_dict(load_file(str(directory / "model.safetensors")))
        return cls(model.eval(), heads)


# What encoders' configs call the dropout on attention weights (BERT, XLM-R, MPNet; DistilBERT, ModernBERT).
ATTENTION_DROPOUT_NAMES = ("attention_probs_dropout_prob", "attention_dropout")


def attention_dropout_rates(path: Path) -> dict[str, float]:
    """The encoder's attention-dropout settings, by their name in its config."""
    config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    return {name: getattr(config, name) for name in ATTENTION_DROPOUT_NAMES if hasattr(config, name)}


def same_segment_embeddings(model: Any) -> None:
    """Copy segment 0's token-type embedding onto the others (BERT-style encoders have them):
    headstart feeds no token-type ids, so an export that gets them (a pipeline on sentence pairs)
    must answer as if they were all 0."""
    embeddings = getattr(model.base_model, "embeddings", None)
    token_types = getattr(embeddings, "token_type_embeddings", None)
    if isinstance(token_types, nn.Embedding) and token_types.num_embeddings > 1:
        with torch.no_grad():
            token_types.weight[1:] = token_types.weight[0]


class SequenceClassifier(TransformersClassifier):
    """*ForSequenceClassification: logits per text."""

    kind = "sequence-classification"
    auto_class = AutoModelForSequenceClassification


class TokenClassifier(TransformersClassifier):
    """*ForTokenClassification: logits per token (named entities)."""

    kind = "token-classification"
    auto_class = AutoModelForTokenClassification


class FrozenEncoderClassifier(TextClassifier, ABC):
    """A frozen encoder (saved as a Hugging Face folder) and a small head in `head.safetensors`."""

    HEAD_FILE = "head.safetensors"

    def __init__(self, encoder: Any, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder  # a transformers encoder (AutoModel)
        self.head = head

    @override
    def save(self, directory: Path) -> None:
        # The encoder goes one folder down, so AutoModelForSequenceClassification refuses `model/`
        # (no config.json) instead of loading the encoder under a random head.
        self.encoder.save_pretrained(directory / ENCODER_DIR)
        save_weights(self.head, directory / self.HEAD_FILE)
        self._write_kind(directory)

    @classmethod
    @override
    def load(cls, directory: Path, allow_pickle: bool = False) -> FrozenEncoderClassifier:
        head = cls.head_from_weights(load_file(str(directory / cls.HEAD_FILE)))
        return cls(load_encoder(directory, allow_pickle), head)

    @staticmethod
    @abstractmethod
    def head_from_weights(weights: dict[str, torch.Tensor]) -> nn.Module:
        """Rebuild the head, with its saved weights, from its state dict."""


class EmbeddingClassifier(FrozenEncoderClassifier):
    """Mean pooling of the last layer and a linear head."""

    kind = "embedding-linear"

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(embed(self.encoder, input_ids, attention_mask))

    @staticmethod
    @override
    def head_from_weights(weights: dict[str, torch.Tensor]) -> nn.Linear:
        classes, dim = weights["weight"].shape
        head = nn.Linear(dim, classes)
        head.load_state_dict(weights)
        return head


class CosineClassifier(FrozenEncoderClassifier):
    """Zero-shot: the label whose description embeds closest to the text (no trained weights)."""

    kind = "embedding-cosine"

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(embed(self.encoder, input_ids, attention_mask))

    @staticmethod
    @override
    def head_from_weights(weights: dict[str, torch.Tensor]) -> CosineHead:
        return CosineHead(weights["label_embeddings"], weights["scale"])


class TokenEmbeddingClassifier(EmbeddingClassifier):
    """The last layer's state of every token and a linear head on each (named entities)."""

    kind = "token-embedding-linear"

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state)


class LayerMixClassifier(FrozenEncoderClassifier):
    """Every layer mean-pooled, mixed by a learned ScalarMixHead."""

    kind = "layer-mix"

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(embed_layers(self.encoder, input_ids, attention_mask))

    @staticmethod
    @override
    def head_from_weights(weights: dict[str, torch.Tensor]) -> ScalarMixHead:
        classes, dim = weights["linear.weight"].shape
        head = ScalarMixHead(weights["mix_logits"].shape[0], dim, classes)
        head.load_state_dict(weights)
        return head


class StaticClassifier(TextClassifier):
    """A static encoder (token vectors averaged) and a linear head: the `static` strategy's."""

    kind = "static-linear"
    inference_batch_size = 1024
    VECTORS_FILE, HEAD_FILE = "static.safetensors", "head.safetensors"

    def __init__(self, encoder: StaticEncoder, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(input_ids, attention_mask))

    @override
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        vectors = {"vectors": self.encoder.vectors.weight.detach(), "weights": self.encoder.weights}
        save_file({k: v.contiguous() for k, v in vectors.items()}, str(directory / self.VECTORS_FILE))
        save_weights(self.head, directory / self.HEAD_FILE)
        self._write_kind(directory)

    @classmethod
    @override
    def load(cls, directory: Path, allow_pickle: bool = False) -> StaticClassifier:
        encoder, head = cls.saved_parts(directory)
        return cls(encoder, EmbeddingClassifier.head_from_weights(head))

    @classmethod
    def saved_parts(cls, directory: Path) -> tuple[StaticEncoder, dict[str, torch.Tensor]]:
        """The saved static encoder, and the head's weights."""
        static = load_file(str(directory / cls.VECTORS_FILE))
        return StaticEncoder(static["vectors"], static["weights"]), load_file(str(directory / cls.HEAD_FILE))


class TrainedStaticClassifier(StaticClassifier):
    """The `static` strategy's trained head (`head=trained`), computed as model2vec's
    StaticModelForClassification computes it: the weighted mean of the token vectors, L2-normalised,
    then one hidden ReLU layer. Its vectors and their weights trained with the head."""

    kind = "static-mlp"

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(nn.functional.normalize(self.encoder(input_ids, attention_mask), dim=-1))

    @classmethod
    @override
    def load(cls, directory: Path, allow_pickle: bool = False) -> TrainedStaticClassifier:
        encoder, weights = cls.saved_parts(directory)
        hidden, dim = weights["0.weight"].shape
        head = static_mlp_head(dim, hidden, weights["2.weight"].shape[0])
        head.load_state_dict(weights)
        return cls(encoder, head)


class MultiTaskClassifier(TextClassifier):
    """One shared encoder, mean pooling, and one linear head per label column.

    `forward` returns the first (main) head's logits, so everything built for one classifier works
    unchanged; `forward(..., all_heads=True)` returns every head's logits side by side.
    """

    kind = "multi-task"
    HEADS_FILE = "heads.safetensors"
    LABELS_FILE = "heads.json"

    def __init__(self, encoder: Any, head_labels: dict[str, list[str]], dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder  # a transformers encoder (AutoModel)
        self.head_labels = head_labels  # column name -> class names, main column first
        self.dropout = nn.Dropout(dropout)
        dim = encoder.config.hidden_size
        self.heads = nn.ModuleList(nn.Linear(dim, len(labels)) for labels in head_labels.values())

    @override
    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, all_heads: bool = False
    ) -> torch.Tensor:
        pooled = self.dropout(embed(self.encoder, input_ids, attention_mask))
        if not all_heads:
            return self.heads[0](pooled)
        return torch.cat([head(pooled) for head in self.heads], dim=-1)

    def split_logits(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output of forward(all_heads=True), cut back into one tensor per head."""
        sizes = [len(labels) for labels in self.head_labels.values()]
        return dict(zip(self.head_labels, logits.split(sizes, dim=-1), strict=True))

    @override
    def save(self, directory: Path) -> None:
        self.encoder.save_pretrained(directory / ENCODER_DIR)  # one folder down, as FrozenEncoderClassifier's
        save_weights(self.heads, directory / self.HEADS_FILE)
        (directory / self.LABELS_FILE).write_text(json.dumps(self.head_labels), encoding="utf-8")
        self._write_kind(directory)

    @classmethod
    @override
    def load(cls, directory: Path, allow_pickle: bool = False) -> MultiTaskClassifier:
        head_labels = json.loads((directory / cls.LABELS_FILE).read_text(encoding="utf-8"))
        classifier = cls(load_encoder(directory, allow_pickle), head_labels)
        classifier.heads.load_state_dict(load_file(str(directory / cls.HEADS_FILE)))
        return classifier


def load_encoder(path: Path, allow_pickle: bool = False) -> Any:
    """The encoder of a model folder (or of a run's `model/`), without a pooler (mean pooling
    replaces it)."""
    path = hf_files_dir(path)
    config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    extra = {"add_pooling_layer": False} if config.model_type in {"bert", "roberta", "xlm-roberta"} else {}
    return load_pretrained(AutoModel, path, allow_pickle, **extra)
