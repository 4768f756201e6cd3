"""`headstart labels audit`: find likely label errors. Out-of-fold probabilities come from K-fold
cross-validation (every text is scored by a model that never saw it); cleanlab ranks the labels
those probabilities disagree with (confident learning, Northcutt et al. 2021)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from headstart.api import train
from headstart.config import TrainConfig
from headstart.data.dataset import load_labelled
from headstart.data.io import write_table_atomic
from headstart.data.labelled import LabelledTexts
from headstart.data.sampling import check_classes
from headstart.devices import Placement, small_fit_threads
from headstart.encoding import choose_max_length, encode
from headstart.errors import ConfigError, DataError
from headstart.extras import optional
from headstart.models.classifiers import load_encoder
from headstart.models.zoo import cache_dir, load_tokenizer, model_max_length, resolve_model
from headstart.progress import info
from headstart.strategies.features import cached_embeddings, model_fingerprint

REGULARISATION = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]  # inverse L2 strengths tried


@dataclass
class Audit:
    """The rows whose labels look wrong, and the out-of-fold probabilities behind the ranking."""

    review: (
        pd.DataFrame
    )  # flagged rows, most suspicious first: row, text, given label, suggested label, score
    probabilities: np.ndarray  # out-of-fold probabilities, rows × classes
    classes: list[str]


def out_of_fold_probabilities(
    data: LabelledTexts, classes: list[str], config: TrainConfig, folds: int
) -> np.ndarray:
    """Class probabilities for every row from a model trained on the other folds."""
    targets = np.array([classes.index(label) for label in data.labels])
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    probabilities = np.zeros((len(data), len(classes)))
    if config.strategy == "features":
        embeddings = _embeddings(data, config)  # computed once for all folds
    for number, (train_rows, held_rows) in enumerate(
        splitter.split(np.zeros(len(targets)), targets), start=1
    ):
        info(f"Fold {number}/{folds}: {len(train_rows)} texts to train, {len(held_rows)} to score")
        if config.strategy == "features":
            probabilities[held_rows] = _linear_probabilities(
                embeddings, targets, train_rows, held_rows, len(classes), config.seed
            )
        else:
            probabilities[held_rows] = _run_probabilities(data, classes, config, train_rows, held_rows)
    return probabilities


def _embeddings(data: LabelledTexts, config: TrainConfig) -> np.ndarray:
    path = resolve_model(config.model, config.allow_pickle)
    tokenizer = load_tokenizer(path)
    max_length = config.max_length or choose_max_length(
        tokenizer, data.texts, config.length_percentile, model_max_length(path)
    )
    placement = Placement.of(config.device, config.precision)
    encoder = load_encoder(path, config.allow_pickle).eval().to(placement.device)
    encoded = encode(tokenizer, data.texts, max_length)
    key, pad_id = model_fingerprint(path), tokenizer.pad_token_id
    embeddings = cached_embeddings(
        encoder,
        encoded,
        key,
        pad_id,
        config.eval_batch_size,
        "texts",
        cache=cache_dir("features"),
        placement=placement,
    )
    return embeddings.numpy()


def _linear_probabilities(
    x: np.ndarray, y: np.ndarray, train_rows: np.ndarray, held_rows: np.ndarray, classes: int, seed: int
) -> np.ndarray:
    # The L2 strength is chosen by an inner cross-validation on the fold's own (noisy) labels: a weakly
    # regularised model memorises the wrong labels and can no longer contradict them.
    scaler = StandardScaler().fit(x[train_rows])
    model = LogisticRegressionCV(
        Cs=REGULARISATION,
        l1_ratios=(0.0,),  # plain L2, spelt out as scikit-learn 1.10 asks
        use_legacy_attributes=False,
        cv=3,
        scoring="neg_log_loss",
        max_iter=3000,
        random_state=seed,
    )
    with small_fit_threads(len(train_rows) * x.shape[1]):
        model.fit(scaler.transform(x[train_rows]), y[train_rows])
    probabilities = np.zeros((len(held_rows), classes))
    probabilities[:, model.classes_] = model.predict_proba(scaler.transform(x[held_rows]))
    return probabilities


def _run_probabilities(
    data: LabelledTexts,
    classes: list[str],
    config: TrainConfig,
    train_rows: np.ndarray,
    held_rows: np.ndarray,
) -> np.ndarray:
    """Any strategy: train a run on the fold (its own dev split inside), then score the held-out texts."""
    with tempfile.TemporaryDirectory(prefix="headstart-audit-") as folder:
        fold = Path(folder) / "fold.csv"
        pd.DataFrame(
            {"text": [data.texts[i] for i in train_rows], "label": [data.labels[i] for i in train_rows]}
        ).to_csv(fold, index=False)
        run = train(
            out=Path(folder) / "run",
            config=config.replace(
                data=str(fold), text_col="text", label_col="label", test_size=0.1, dev_size=0.1
            ),
        )
        probabilities = run.predict_proba([data.texts[i] for i in held_rows], show_progress=False)
    order = [run.labels.index(label) if label in run.labels else None for label in classes]
    return np.stack(
        [probabilities[:, i] if i is not None else np.zeros(len(held_rows)) for i in order], axis=1
    )


def check_folds(labels: list[str], folds: int, source: str) -> None:
    """Every label needs a row in each fold of the K-fold split."""
    if folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {folds}.")
    smallest = pd.Series(labels).value_counts().min()
    if smallest < folds:
        raise DataError(
            f"A label of {source} has only {smallest} example(s), fewer than --folds {folds}; "
            "lower --folds or add examples."
        )


def audit(
    data: str | Path,
    config: TrainConfig | None = None,
    folds: int = 5,
    text_col: str | None = None,
    label_col: str | None = None,
) -> Audit:
    """Rank the rows of a labelled file by how likely their label is wrong."""
    with optional("headstart labels audit"):
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

    labelled = load_labelled(str(data), text_col, label_col)
    classes = check_classes(labelled.labels, f"'{Path(data).name}'")
    check_folds(labelled.labels, folds, f"'{Path(data).name}'")
    config = config or TrainConfig(data=str(data), strategy="features")
    probabilities = out_of_fold_probabilities(labelled, classes, config, folds)
    given = np.array([classes.index(label) for label in labelled.labels])
    flagged = find_label_issues(given, probabilities, return_indices_ranked_by="self_confidence")
    scores = get_label_quality_scores(given, probabilities)
    review = pd.DataFrame(
        {
            "row": flagged,  # position among the file's data rows, from 0
            "text": [labelled.texts[i] for i in flagged],
            "given_label": [labelled.labels[i] for i in flagged],
            "suggested_label": [classes[i] for i in probabilities[flagged].argmax(axis=1)],
            "label_quality": np.round(scores[flagged], 4),
        }
    )
    return Audit(review, probabilities, classes)


def write_review(result: Audit, out: Path) -> None:
    """The flagged rows, most suspicious first, as a table to review."""
    write_table_atomic(result.review, out)
