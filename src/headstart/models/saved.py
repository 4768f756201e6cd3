"""A run's model folder → its classifier, whatever its kind (those of `classifiers`, `tfidf`, `recurrent`)."""

from __future__ import annotations

import json
from pathlib import Path

from headstart.errors import RunError
from headstart.models.classifiers import (
    CLASSIFIER_FILE,
    CosineClassifier,
    EmbeddingClassifier,
    LayerMixClassifier,
    MultiTaskClassifier,
    SequenceClassifier,
    StaticClassifier,
    TextClassifier,
    TokenClassifier,
    TokenEmbeddingClassifier,
    TrainedStaticClassifier,
)
from headstart.models.recurrent import RecurrentClassifier
from headstart.models.tfidf import TfidfClassifier

CLASSIFIER_KINDS: dict[str, type[TextClassifier]] = {  # classifier.json's kind → the class that loads it
    SequenceClassifier.kind: SequenceClassifier,
    TokenClassifier.kind: TokenClassifier,
    EmbeddingClassifier.kind: EmbeddingClassifier,
    CosineClassifier.kind: CosineClassifier,
    LayerMixClassifier.kind: LayerMixClassifier,
    TokenEmbeddingClassifier.kind: TokenEmbeddingClassifier,
    MultiTaskClassifier.kind: MultiTaskClassifier,
    StaticClassifier.kind: StaticClassifier,
    TrainedStaticClassifier.kind: TrainedStaticClassifier,
    TfidfClassifier.kind: TfidfClassifier,
    RecurrentClassifier.kind: RecurrentClassifier,
}


def load_classifier(directory: Path, allow_pickle: bool = False) -> TextClassifier:
    """The classifier saved in a run's model folder, whatever its kind."""
    marker = directory / CLASSIFIER_FILE
    if not marker.is_file():
        raise RunError(
            f"'{directory}' holds no headstart classifier ({CLASSIFIER_FILE} "
            "missing); pass a run directory made by `headstart train`."
        )
    kind = json.loads(marker.read_text(encoding="utf-8"))["kind"]
    if kind not in CLASSIFIER_KINDS:
        raise RunError(
            f"Classifier kind '{kind}' in '{directory}' is unknown "
            "to this headstart version; upgrade headstart."
        )
    return CLASSIFIER_KINDS[kind].load(directory, allow_pickle)
