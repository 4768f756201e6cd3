"""headstart as a scikit-learn estimator: `TextClassifier` fits a run on texts and labels, and
works in `Pipeline`, `cross_val_score` and `GridSearchCV` like any classifier.

    from headstart.sklearn import TextClassifier
    scores = cross_val_score(TextClassifier(strategy="features"), texts, labels, cv=3)

`fit` holds out `dev_size` of its rows to choose the epoch (or the head's regularisation) and
keeps no test split: scikit-learn's own splits test. The run lives in a temporary folder removed
with the estimator, unless `out` names one; `save` and `load` keep it as a run directory.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from headstart.api import train
from headstart.config import TrainConfig
from headstart.errors import ConfigError
from headstart.files import replace_dir, staging_dir
from headstart.progress import quietly
from headstart.runs import load_run


class TextClassifier(ClassifierMixin, BaseEstimator):
    """A text classifier trained by headstart on `fit(texts, labels)`.

    The parameters are TrainConfig fields with their defaults; `options` takes any other field
    (e.g. {"class_weights": True}) and `strategy_options` the strategy's own options.
    """

    def __init__(
        self,
        strategy: str = "features",
        model: str = TrainConfig.model,
        epochs: int = TrainConfig.epochs,
        lr: float | None = None,
        batch_size: int = TrainConfig.batch_size,
        max_length: int | None = None,
        seed: int = TrainConfig.seed,
        dev_size: float = TrainConfig.dev_size,
        strategy_options: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        out: str | None = None,
        quiet: bool = True,
    ) -> None:
        self.strategy = strategy
        self.model = model
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.max_length = max_length
        self.seed = seed
        self.dev_size = dev_size
        self.strategy_options = strategy_options
        self.options = options
        self.out = out
        self.quiet = quiet

    def fit(self, X: Sequence[str], y: Sequence[Any]) -> TextClassifier:  # noqa: N803 - scikit-learn's names
        """Train a run on the texts `X` and their classes `y`."""
        out = Path(self.out) if self.out is not None else self._temporary_run()
        with quietly(self.quiet):
            run = train(
                texts=_texts(X),
                labels=[str(label) for label in y],
                out=out,
                overwrite=True,
                strategy=self.strategy,
                model=self.model,
                epochs=self.epochs,
                lr=self.lr,
                batch_size=self.batch_size,
                max_length=self.max_length,
                seed=self.seed,
                dev_size=self.dev_size,
                test_size=0,
                strategy_options=self.strategy_options or {},
                **(self.options or {}),
            )
        if run.task.name != "classification":
            raise ConfigError(
                f"TextClassifier fits single-label classes; these labels make a {run.task.name} task. "
                "Use headstart.train for it."
            )
        self.run_ = run
        self.classes_ = np.array(run.labels)
        return self

    def predict(self, X: Sequence[str]) -> np.ndarray:  # noqa: N803
        """The class of each text."""
        check_is_fitted(self, "run_")
        with quietly(self.quiet):
            return np.array(self.run_.predict(_texts(X), show_progress=False))

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:  # noqa: N803
        """Class probabilities of each text, columns in `classes_` order."""
        check_is_fitted(self, "run_")
        with quietly(self.quiet):
            return self.run_.predict_proba(_texts(X), show_progress=False)

    def save(self, path: str | Path) -> Path:
        """Copy the fitted run to `path` (a run directory `headstart` and `load` can read)."""
        check_is_fitted(self, "run_")
        target = Path(path)
        staging = staging_dir(target)
        shutil.copytree(self.run_.path, staging, dirs_exist_ok=True)
        replace_dir(staging, target)
        return target

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """A fitted estimator from a run directory (its parameters from the run's config)."""
        run = load_run(path)
        config = run.config
        estimator = cls(
            strategy=config.strategy,
            model=config.model,
            epochs=config.epochs,
            lr=config.lr,
            batch_size=config.batch_size,
            max_length=config.max_length,
            seed=config.seed,
            dev_size=config.dev_size,
            strategy_options=config.strategy_options,
            out=str(path),
        )
        estimator.run_ = run
        estimator.classes_ = np.array(run.labels)
        return estimator

    def _temporary_run(self) -> Path:
        """A folder for the run that is removed when the estimator is."""
        folder = Path(tempfile.mkdtemp(prefix="headstart-sklearn-"))
        weakref.finalize(self, shutil.rmtree, folder, True)
        return folder / "run"


def _texts(X: Any) -> list[str]:  # noqa: N803
    """Texts from what scikit-learn passes: a list, an array or a pandas Series of strings."""
    texts = list(X.tolist() if hasattr(X, "tolist") else X)
    if any(not isinstance(text, str) for text in texts):
        raise ConfigError(
            "TextClassifier takes texts (strings), one per sample; vectorise nothing before it."
        )
    return texts
