"""`headstart labels aggregate --method crowdlab`: a consensus of the annotators and a model that
reads the items' texts. The model is trained on a first consensus of the answers, by K-fold
cross-validation so that every item is scored by a model that never saw it (as `labels audit`)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.config import TrainConfig
from headstart.data.labelled import LabelledTexts
from headstart.errors import DataError
from headstart.labels.aggregate import Aggregation, aggregate, aggregate_files
from headstart.workflows.audit import check_folds, out_of_fold_probabilities


def model_probabilities(answers: pd.DataFrame, config: TrainConfig, folds: int = 5) -> pd.DataFrame:
    """Out-of-fold class probabilities of each item's text (items × labels), from models of
    `config` (its strategy, model, max length, ...; its data is not read) trained on the other
    folds' majority-vote labels, as in the CROWDLAB paper."""
    if "text" not in answers or answers["text"].isna().any():
        raise DataError(
            "--method crowdlab reads each item's text; give the answers a text column with every item's text."
        )
    consensus = aggregate(answers, "mv").labels
    texts = answers.drop_duplicates("task").set_index("task")["text"].astype(str)
    labelled = LabelledTexts(texts.reindex(consensus["item"]).tolist(), consensus["label"].tolist())
    classes = sorted(answers["label"].unique())
    check_folds(labelled.labels, folds, "the answers' majority vote")
    probabilities = out_of_fold_probabilities(labelled, classes, config, folds)
    return pd.DataFrame(probabilities, index=consensus["item"].to_numpy(), columns=classes)


def aggregate_labels(
    answers: list[str | Path],
    out: Path,
    method: str = "ds",
    *,
    config: TrainConfig | None = None,
    folds: int = 5,
    **options: Any,
) -> tuple[Aggregation, dict[str, Any]]:
    """`headstart labels aggregate`: any method of `labels.aggregate`; for `crowdlab`, a model of
    `config` (default: `features`) scores the items' texts first. `options` are those of
    `aggregate_files`."""
    config = config or TrainConfig(data=str(answers[0]), strategy="features")
    scorer = partial(model_probabilities, config=config, folds=folds)
    return aggregate_files(answers, out, method, score_items=scorer, **options)
