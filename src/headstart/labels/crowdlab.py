"""CROWDLAB (Goh, Tkachenko & Mueller 2022, in cleanlab): a consensus of annotators and a model.

The model's probabilities of each item's text and the annotators' answers are averaged, with
weights learnt from how often the model and each annotator agree with the others; so a model that
reads the text can outvote a crowd split by spammers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from headstart.errors import DataError
from headstart.extras import optional


@dataclass
class Consensus:
    """What a method infers from the answers: a posterior per item, a label and its confidence."""

    probabilities: pd.DataFrame  # items × labels
    labels: pd.Series  # item → consensus label
    confidence: pd.Series  # item → confidence in that label
    skills: pd.Series | None  # annotator → the method's estimate of their skill, when it has one


def crowdlab(answers: pd.DataFrame, model_probabilities: pd.DataFrame) -> Consensus:
    """CROWDLAB (Goh, Tkachenko & Mueller 2022, cleanlab): the model's probabilities and the
    answers averaged with weights learnt from how often the model and each annotator agree with the
    others. The confidence is cleanlab's consensus quality score; the skill, its annotator quality."""
    with optional("Model-assisted consensus (--method crowdlab)"):
        from cleanlab.multiannotator import get_label_quality_multiannotator

    classes = sorted(set(answers["label"]) | set(model_probabilities.columns.astype(str)))
    wide = answers.pivot(index="task", columns="worker", values="label")  # items × annotators
    codes = wide.apply(lambda column: column.map({label: i for i, label in enumerate(classes)}))
    prior = model_probabilities.set_axis(model_probabilities.columns.astype(str), axis=1)
    prior = prior.set_axis(prior.index.astype(str)).reindex(index=wide.index, columns=classes)
    missing = prior.index[prior.isna().all(axis=1)]
    if len(missing):
        raise DataError(
            f"The model's probabilities miss {len(missing)} item(s) of the answers (e.g. "
            f"'{missing[0]}'); score every item's text."
        )
    prior = prior.fillna(0.0).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = get_label_quality_multiannotator(codes, prior, return_weights=True, verbose=False)
    quality = found["label_quality"]
    posterior = crowdlab_posterior(codes.to_numpy(dtype=float), prior, quality, found)
    return Consensus(
        pd.DataFrame(posterior, index=wide.index, columns=classes),
        quality["consensus_label"].map(dict(enumerate(classes))),
        quality["consensus_quality_score"],
        found["annotator_stats"]["annotator_quality"],
    )


def crowdlab_posterior(
    codes: np.ndarray, prior: np.ndarray, quality: pd.DataFrame, found: dict[str, Any]
) -> np.ndarray:
    """CROWDLAB's label distribution per item, which cleanlab computes but does not return: the
    model's probabilities and each annotator's answer (the consensus likelihood on the answered
    class, the rest spread over the others), weighted by the returned model and annotator weights."""
    several = quality["num_annotations"].to_numpy() != 1
    agree = float(np.mean(quality["annotator_agreement"].to_numpy()[several]))
    disagree = (1 - agree) / (prior.shape[1] - 1)
    answered = ~np.isnan(codes)
    onehot = np.stack([np.where(answered, codes == k, False) for k in range(prior.shape[1])], axis=2)
    votes = np.where(onehot, agree, disagree) * answered[..., None]  # items × annotators × classes
    weights = np.asarray(found["annotator_weight"])
    total = prior * found["model_weight"] + np.einsum("iak,a->ik", votes, weights)
    return total / (found["model_weight"] + answered @ weights)[:, None]
