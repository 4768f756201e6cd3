"""The baseline without transfer: TF-IDF of the tokenizer's n-grams and a logistic regression, C
chosen on dev. scikit-learn's TfidfVectorizer picks the n-grams and their IDF; the run keeps them
as a `TfidfClassifier` (models/tfidf.py), which reads token ids like every run's model."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from typing_extensions import override

from headstart.config import option
from headstart.devices import CPU
from headstart.encoding import Encoded, forward_in_batches
from headstart.errors import DataError
from headstart.models.tfidf import MAX_NGRAMS, TfidfClassifier, TokenNgramTfidf, ngram_keys
from headstart.strategies.base import register_strategy
from headstart.strategies.features import Features, FeaturesConfig
from headstart.training.job import Fitted, TrainingJob


@dataclass
class TfidfConfig(FeaturesConfig):
    """Options of the n-gram vocabulary and the logistic regression."""

    c_values: list[float] = option(
        [1.0, 10.0, 100.0],
        "Inverse L2 strengths tried for the logistic regression; the best on dev is kept.",
    )
    ngrams: int = option(2, f"Longest run of tokens counted as one feature (1 to {MAX_NGRAMS}).")
    min_df: int = option(2, "Keep the n-grams found in at least this many training texts.")
    max_features: int = option(200_000, "Keep at most this many n-grams, the most frequent in training.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.ngrams <= MAX_NGRAMS or self.min_df < 1 or self.max_features < 1:
            raise ValueError(
                f"ngrams must be 1 to {MAX_NGRAMS}, min_df and max_features at least 1; got "
                f"{self.ngrams}, {self.min_df} and {self.max_features}"
            )


@register_strategy
class Tfidf(Features):
    """TF-IDF of token n-grams (sublinear tf, L2 norm) and a linear head chosen on dev."""

    name = "tfidf"
    summary = (
        "Baseline without transfer: TF-IDF of the tokenizer's 1-2-grams (characters for Chinese) "
        "and a logistic regression, C chosen on dev."
    )
    config_class = TfidfConfig
    config: TfidfConfig
    tasks = frozenset({"classification", "multi-label", "regression"})

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        started = time.perf_counter()
        vectoriser, x = self.vocabulary(job)
        vocabulary_seconds = time.perf_counter() - started
        pad_id, batch = job.tokenizer.pad_token_id, TfidfClassifier.inference_batch_size

        def dev_logits(head: torch.nn.Linear) -> torch.Tensor:
            classifier = TfidfClassifier(vectoriser, head)
            return forward_in_batches(classifier, job.dev, batch, pad_id, show_progress=False, placement=CPU)

        assert job.train.label_ids is not None  # training rows always carry targets
        head, report, dev_outputs = self.select_head(
            job, x, job.train.label_ids, job.task.name, dev_logits, standardise=False
        )
        report.details["tfidf"] = {
            "ngrams_kept": len(vectoriser.keys),
            "vocabulary_seconds": round(vocabulary_seconds, 2),
        }
        return Fitted(TfidfClassifier(vectoriser, head), report, dev_outputs)

    def vocabulary(self, job: TrainingJob) -> tuple[TokenNgramTfidf, object]:
        """The n-gram vocabulary and IDF scikit-learn fits on the training rows, as a torch module,
        and the training rows' TF-IDF matrix (sparse) with columns in the module's key order."""
        special = torch.tensor(sorted(set(job.tokenizer.all_special_ids)))
        base = max(job.tokenizer.get_vocab().values()) + 2  # ids + 1 run up to max id + 1
        texts = row_keys(job.train, special, self.config.ngrams, base)
        fitter = TfidfVectorizer(
            analyzer=lambda keys: keys,  # a row's n-gram keys are its terms
            min_df=self.config.min_df,
            max_features=self.config.max_features,
            sublinear_tf=True,
            dtype=np.float32,
        )
        try:
            x = fitter.fit_transform(texts)
        except ValueError:  # scikit-learn: no n-gram is left after min_df
            raise DataError(
                f"No n-gram occurs in {self.config.min_df} training texts; lower the tfidf "
                "strategy's min_df (e.g. --option min_df=1) or add texts."
            ) from None
        keys = np.zeros(len(fitter.vocabulary_), dtype=np.int64)
        for key, column in fitter.vocabulary_.items():
            keys[column] = key
        vectoriser = TokenNgramTfidf(
            torch.from_numpy(keys), torch.from_numpy(fitter.idf_), special, self.config.ngrams, base
        )
        return vectoriser, x[:, vectoriser.order.numpy()]


def row_keys(encoded: Encoded, special: torch.Tensor, ngrams: int, base: int) -> list[list[int]]:
    """The n-gram keys of each row, as `TokenNgramTfidf` computes them."""
    rows = []
    for ids in encoded.input_ids:
        tensor = torch.tensor([ids])
        keys = ngram_keys(tensor, torch.ones_like(tensor), special, ngrams, base)[0]
        rows.append(keys[keys >= 0].tolist())
    return rows
