"""Split conformal prediction sets (Vovk et al. 2005; the LAC score of Sadinle et al. 2019): the
labels whose probability is high enough that, on texts like the calibration ones, the set holds
the true label with the asked probability.

A run is calibrated once, at training time, on dev texts its model did not train on: the score of
each is 1 − the probability the model gave its true label. At prediction, the set for a coverage
c is every label with 1 − p ≤ q, q being the ⌈(n + 1)·c⌉-th smallest of the n dev scores; the
finite-sample guarantee is P(true label in set) ≥ c for exchangeable texts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from headstart.errors import ConfigError, RunError
from headstart.files import write_text_atomic

CALIBRATION_FILE = "calibration.json"


def nonconformity(probabilities: np.ndarray, label_ids: Sequence[int]) -> np.ndarray:
    """Each row's score: 1 − the probability of its true label."""
    return 1.0 - probabilities[np.arange(len(label_ids)), np.asarray(label_ids)]


def check_coverage(coverage: float) -> None:
    """A coverage is a probability strictly between 0 and 1."""
    if not 0 < coverage < 1:
        raise ConfigError(f"--coverage must be in (0, 1), e.g. 0.9; got {coverage}.")


def threshold(scores: np.ndarray, coverage: float) -> float:
    """The split-conformal quantile of the calibration scores for `coverage`: the ⌈(n+1)·c⌉-th
    smallest; 1 (every label) when there are too few scores for that coverage."""
    check_coverage(coverage)
    rank = math.ceil((len(scores) + 1) * coverage)
    return 1.0 if rank > len(scores) else float(np.sort(scores)[rank - 1])


def prediction_sets(
    probabilities: np.ndarray, classes: Sequence[str], scores: np.ndarray, coverage: float
) -> list[list[str]]:
    """Per row, the labels with 1 − p ≤ the threshold, most probable first. A set may be empty: no
    label is probable enough at that coverage, a text as doubtful as one with several."""
    cut = threshold(scores, coverage)
    order = np.argsort(-probabilities, axis=1)
    return [
        [classes[i] for i in ranked if 1.0 - row[i] <= cut + 1e-12]
        for row, ranked in zip(probabilities, order, strict=True)
    ]


def save_calibration(directory: Path, scores: np.ndarray, calibrated_on: str) -> None:
    """The dev scores beside the model (numbers only: no text leaves in them)."""
    facts = {
        "method": "split conformal, score 1 - p(true label)",
        "calibrated_on": calibrated_on,
        "rows": len(scores),
        "scores": [round(float(s), 6) for s in np.sort(scores)],
    }
    write_text_atomic(directory / CALIBRATION_FILE, json.dumps(facts))


def load_calibration(directory: Path) -> np.ndarray:
    """The scores `save_calibration` wrote, or a one-line error saying why a run has none."""
    path = directory / CALIBRATION_FILE
    if not path.is_file():
        raise RunError(
            f"'{directory}' has no conformal calibration: it is made at training time for single-label "
            "classification runs with a dev split; train the run again with this headstart."
        )
    return np.asarray(json.loads(path.read_text(encoding="utf-8"))["scores"], dtype=np.float64)
