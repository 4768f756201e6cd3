"""`headstart labels aggregate`: several annotators' answers → one label per item, with its
posterior confidence, a report on every annotator, and inter-annotator agreement.

The aggregation methods are crowd-kit's, and cleanlab's CROWDLAB when a model's probabilities are
given; this module reads the answers, runs them, and adds what crowd-kit lacks: per-annotator
agreement with the consensus, a spammer flag and Fleiss' kappa.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headstart.data.columns import find_column
from headstart.data.io import read_table, write_table_atomic
from headstart.errors import ConfigError, DataError
from headstart.extras import optional
from headstart.files import write_text_atomic
from headstart.labels.crowdlab import Consensus, crowdlab

ITEM_COLUMNS = ("item", "item_id", "task", "task_id", "id")
ANNOTATOR_COLUMNS = ("annotator", "annotator_id", "worker", "worker_id", "user", "rater")
ANSWER_COLUMNS = ("label", "answer", "response", "category")


METHODS = ("mv", "wawa", "ds", "one-coin-ds", "glad", "mace", "crowdlab")
# The other spellings people type: the long names and crowd-kit's class names.
ALIASES = {
    "majority-vote": "mv",
    "majorityvote": "mv",
    "dawid-skene": "ds",
    "dawidskene": "ds",
    "one-coin-dawid-skene": "one-coin-ds",
    "onecoindawidskene": "one-coin-ds",
}


def method_name(method: str) -> str:
    """The short name of an aggregation method, however it is spelled (case, `_` or `-`)."""
    spelled = method.strip().lower().replace("_", "-")
    name = ALIASES.get(spelled, ALIASES.get(spelled.replace("-", ""), spelled))
    if name not in METHODS:
        raise ConfigError(
            f"Unknown aggregation method '{method}'; choose one of {list(METHODS)} (or dawid-skene, "
            "majority-vote, one-coin-dawid-skene, or crowd-kit's class names)."
        )
    return name


def make_model(method: str, seed: int) -> Any:
    """A crowd-kit aggregator; crowd-kit is imported only when a method runs."""
    with optional("Crowd-label aggregation"):
        from crowdkit.aggregation import GLAD, MACE, DawidSkene, MajorityVote, OneCoinDawidSkene, Wawa
    from sklearn.base import BaseEstimator

    class PatchedWawa(Wawa):
        # crowd-kit 1.4.2's Wawa misses sklearn >= 1.6's estimator tags; give it BaseEstimator's.
        def __sklearn_tags__(self) -> Any:
            return BaseEstimator.__sklearn_tags__(self)

    makers: dict[str, Callable[[], Any]] = {
        "mv": MajorityVote,
        "wawa": PatchedWawa,  # majority vote weighted by each annotator's agreement with it
        "ds": lambda: DawidSkene(n_iter=100),  # a confusion matrix per annotator, by EM
        "one-coin-ds": lambda: OneCoinDawidSkene(n_iter=100),  # one accuracy per annotator
        "glad": lambda: GLAD(n_iter=100, silent=True),  # annotator skill and item difficulty
        "mace": lambda: MACE(n_iter=50, random_state=seed, verbose=0),  # which annotators answer at random
    }
    return makers[method]()


@dataclass
class Aggregation:
    """One method's result: a label per item, its posterior, the annotators and their agreement."""

    labels: pd.DataFrame  # item, label, confidence (and text when the answers came with one)
    probabilities: pd.DataFrame  # items × labels: the posterior label distribution of each item
    annotators: pd.DataFrame  # annotator, items, agreement with the consensus, suspected spammer
    agreement: dict[str, float | None]  # krippendorff_alpha, fleiss_kappa (None when undefined)
    method: str


def read_rounds(
    paths: list[str | Path],
    item_col: str | None = None,
    annotator_col: str | None = None,
    label_col: str | None = None,
) -> pd.DataFrame:
    """Answers of several annotation rounds (one file each, in order), with a `round` column."""
    if not paths:
        raise ConfigError("Give at least one file of answers.")
    rounds = [
        read_answers(path, item_col, annotator_col, label_col).assign(round=number)
        for number, path in enumerate(paths, start=1)
    ]
    answers = pd.concat(rounds, ignore_index=True)
    answers.attrs["columns"] = rounds[0].attrs["columns"]
    repeated = answers.duplicated(subset=["task", "worker"], keep=False)
    if repeated.any():
        first = answers[repeated].iloc[0]
        raise DataError(
            f"Annotator '{first.worker}' labelled item '{first.task}' "
            "in two rounds; keep one answer per pair."
        )
    return answers


def read_answers(
    path: str | Path,
    item_col: str | None = None,
    annotator_col: str | None = None,
    label_col: str | None = None,
) -> pd.DataFrame:
    """Rows of (item, annotator, label) from a table, as columns task/worker/label (crowd-kit's names),
    plus `text` when the file has a text column. The original column names are kept in
    `answers.attrs["columns"]`, so a re-annotation queue can be written in the same format."""
    frame = read_table(path)
    source = f"'{Path(path).name}'"
    columns = {
        "task": find_column(frame, item_col, ITEM_COLUMNS, "item id", source, "--item-col"),
        "worker": find_column(
            frame, annotator_col, ANNOTATOR_COLUMNS, "annotator", source, "--annotator-col"
        ),
        "label": find_column(frame, label_col, ANSWER_COLUMNS, "label", source, "--label-col"),
    }
    answers = frame[list(columns.values())].set_axis(list(columns), axis=1)
    blank = answers.isna().any(axis=1) | answers.astype(str).apply(lambda c: c.str.strip()).eq("").any(axis=1)
    if blank.any():
        rows = [int(i) + 2 for i in blank.to_numpy().nonzero()[0][:5]]
        raise DataError(
            f"{int(blank.sum())} row(s) of {source} miss an item id, "
            f"annotator or label (rows {rows}); fill or remove them."
        )
    answers = answers.astype(str).apply(lambda c: c.str.strip())
    text = next((c for c in frame.columns if str(c).lower() == "text"), None)
    if text is not None:
        answers["text"] = frame[text]
    answers.attrs["columns"] = {**columns, **({"text": text} if text is not None else {})}
    repeated = answers.duplicated(subset=["task", "worker"], keep=False)
    if repeated.any():
        first = answers[repeated].iloc[0]
        raise DataError(
            f"Annotator '{first.worker}' labelled item '{first.task}' "
            f"more than once in {source}; keep one answer per pair."
        )
    return answers


def aggregate(
    answers: pd.DataFrame,
    method: str = "ds",
    seed: int = 0,
    spammer_margin: float = 0.15,
    model_probabilities: pd.DataFrame | None = None,
) -> Aggregation:
    """One label per item by `method`, with posterior confidence, an annotator report and agreement.
    `crowdlab` also weighs `model_probabilities` (items × labels, indexed by item id)."""
    method = method_name(method)
    if answers["label"].nunique() < 2:
        raise DataError("All answers give the same label; there is nothing to aggregate.")
    core = answers[["task", "worker", "label"]]
    if method == "crowdlab":
        if model_probabilities is None:
            raise ConfigError(
                "--method crowdlab weighs a model's probabilities of the items' texts; call "
                "headstart.aggregate_labels (or the CLI), which trains one, or pass model_probabilities."
            )
        consensus = crowdlab(core, model_probabilities)
    else:
        consensus = crowd_kit_consensus(core, method, seed)
    index = consensus.probabilities.index
    gold = pd.DataFrame(
        {
            "item": index.astype(str),
            "label": consensus.labels.reindex(index).to_numpy(),
            "confidence": consensus.confidence.reindex(index).round(4).to_numpy(),
            "answers": core.groupby("task").size().reindex(index).to_numpy(),
        }
    )
    if "text" in answers:
        texts = answers.drop_duplicates("task").set_index("task")["text"]
        gold.insert(1, "text", texts.reindex(index).to_numpy())
    report = annotator_report(core, consensus.labels, spammer_margin)
    if consensus.skills is not None:
        skills = consensus.skills.reindex(report["annotator"]).round(4).to_numpy()
        report.insert(3, "estimated_skill", skills)
    return Aggregation(gold, consensus.probabilities, report, agreement(core), method)


def crowd_kit_consensus(answers: pd.DataFrame, method: str, seed: int) -> Consensus:
    """A crowd-kit method's posterior; the label is its most probable class."""
    with warnings.catch_warnings():  # crowd-kit's pandas calls emit deprecation notices
        warnings.simplefilter("ignore")
        model = make_model(method, seed)
        probabilities = model.fit_predict_proba(answers)
    return Consensus(
        probabilities, probabilities.idxmax(axis=1), probabilities.max(axis=1), estimated_skills(model)
    )


def estimated_skills(model: Any) -> pd.Series | None:
    """Each annotator's skill as the method estimates it: the chance of a right answer (majority
    vote, Wawa, one-coin DS; for Dawid-Skene the prior-weighted diagonal of the annotator's
    confusion matrix), or GLAD's alpha (higher is better, unbounded). None for MACE."""
    if hasattr(model, "skills_"):
        return model.skills_
    if hasattr(model, "errors_") and hasattr(model, "priors_"):
        errors, priors = model.errors_, model.priors_  # errors_: rows (worker, answer), columns true label

        def right(worker: str) -> float:
            confusion = errors.xs(worker, level=0)
            return float(
                sum(
                    priors[label] * confusion.at[label, label]
                    for label in priors.index
                    if label in confusion.index and label in confusion.columns
                )
            )

        return pd.Series({worker: right(worker) for worker in errors.index.get_level_values(0).unique()})
    return getattr(model, "alphas_", None)


def annotator_report(answers: pd.DataFrame, consensus: pd.Series, spammer_margin: float) -> pd.DataFrame:
    """Items done and agreement with the consensus per annotator. An annotator who agrees with the
    consensus hardly more than chance (1/classes + margin) is a suspected spammer."""
    agrees = answers["label"].to_numpy() == consensus.reindex(answers["task"]).to_numpy()
    report = (
        pd.DataFrame({"annotator": answers["worker"], "agrees": agrees})
        .groupby("annotator")["agrees"]
        .agg(["size", "mean"])
    )
    report = report.rename(columns={"size": "items", "mean": "agreement"}).reset_index()
    chance = 1 / answers["label"].nunique()
    report["suspected_spammer"] = report["agreement"] < chance + spammer_margin
    report["agreement"] = report["agreement"].round(4)
    return report.sort_values(["suspected_spammer", "agreement"], ascending=[False, True]).reset_index(
        drop=True
    )


def agreement(answers: pd.DataFrame) -> dict[str, float | None]:
    """Krippendorff's alpha (nominal; any number of answers per item; None unless some item has
    two) and Fleiss' kappa (defined only when every item has the same number of answers)."""
    with optional("Crowd-label agreement"):
        from crowdkit.metrics.data import alpha_krippendorff

    alpha = None
    if answers.groupby("task").size().max() >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alpha = round(float(alpha_krippendorff(answers)), 4)
    return {"krippendorff_alpha": alpha, "fleiss_kappa": fleiss_kappa(answers)}


def fleiss_kappa(answers: pd.DataFrame) -> float | None:
    """Fleiss' kappa; None unless every item has the same number (2+) of answers."""
    counts = pd.crosstab(answers["task"], answers["label"]).to_numpy().astype(float)  # items × categories
    raters = counts.sum(axis=1)
    if len(set(raters)) != 1 or raters[0] < 2:
        return None
    n = raters[0]
    observed = ((counts * (counts - 1)).sum(axis=1) / (n * (n - 1))).mean()
    shares = counts.sum(axis=0) / counts.sum()
    expected = float((shares**2).sum())
    return None if expected == 1 else round(float((observed - expected) / (1 - expected)), 4)


def rounds_report(
    answers: pd.DataFrame,
    final: Aggregation,
    threshold: float,
    seed: int = 0,
    model_probabilities: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Per round, aggregating every answer so far (the last round is `final`): items settled
    (confidence >= threshold) and mean confidence."""
    report: list[dict[str, Any]] = []
    previous: pd.Series | None = None
    numbers = sorted(answers["round"].unique())
    for number in numbers:
        so_far = (
            final
            if number == numbers[-1]
            else aggregate(
                answers[answers["round"] <= number],
                final.method,
                seed,
                model_probabilities=model_probabilities,
            )
        )
        labels = so_far.labels.set_index("item")["label"]
        changed = None if previous is None else int((labels.reindex(previous.index) != previous).sum())
        report.append(
            {
                "round": int(number),
                "answers": int((answers["round"] == number).sum()),
                "items": len(so_far.labels),
                "settled": int((so_far.labels["confidence"] >= threshold).sum()),
                "mean_confidence": round(float(so_far.labels["confidence"].mean()), 4),
                "labels_changed": changed,
            }
        )
        previous = labels
    return report


def reannotation_queue(
    result: Aggregation, answers: pd.DataFrame, threshold: float, budget: int | None = None
) -> pd.DataFrame:
    """Items to send back to annotators, least confident first, at most `budget`: those whose
    confidence is below `threshold` or whose annotators split with no majority. Written in the
    columns the answers came in, with the annotator and label left empty."""
    votes = answers.groupby("task")["label"].agg(lambda labels: labels.value_counts().iloc[0] / len(labels))
    shares = votes.reindex(result.labels["item"]).to_numpy()
    unsure = result.labels[(result.labels["confidence"].to_numpy() < threshold) | (shares <= 0.5)]
    chosen = unsure.sort_values("confidence").head(budget if budget is not None else len(unsure))
    names = answers.attrs.get("columns", {"task": "item", "worker": "annotator", "label": "label"})
    queue = pd.DataFrame({names["task"]: chosen["item"].to_numpy(), names["worker"]: "", names["label"]: ""})
    if "text" in chosen:
        queue[names.get("text", "text")] = chosen["text"].to_numpy()
    return queue


def summary(result: Aggregation, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline facts of an aggregation: method, items, agreement, confidence, spammers, rounds."""
    return {
        "method": result.method,
        "items": len(result.labels),
        "agreement": result.agreement,
        "mean_confidence": round(float(result.labels["confidence"].mean()), 4),
        "suspected_spammers": int(result.annotators["suspected_spammer"].sum()),
        "rounds": rounds,
    }


def write_aggregation(
    result: Aggregation, out: Path, report: Path | None, rounds: list[dict[str, Any]]
) -> None:
    """The gold labels to `out`; the summary, the rounds and the annotator report to `report` as JSON."""
    write_table_atomic(result.labels, out)
    if report is not None:
        details = {
            **summary(result, rounds),
            "annotators": json.loads(result.annotators.to_json(orient="records")),
        }
        write_text_atomic(report, json.dumps(details, indent=2))


def accuracy_against(result: Aggregation, gold: pd.Series) -> float:
    """Share of items whose aggregated label equals `gold` (indexed by item id)."""
    labels = result.labels.set_index("item")["label"]
    return float(np.mean(labels.to_numpy() == gold.reindex(labels.index).astype(str).to_numpy()))


def aggregate_files(
    answers: list[str | Path],
    out: Path,
    method: str = "ds",
    *,
    report: Path | None = None,
    queue: Path | None = None,
    threshold: float = 0.9,
    budget: int | None = None,
    item_col: str | None = None,
    annotator_col: str | None = None,
    label_col: str | None = None,
    seed: int = 0,
    score_items: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> tuple[Aggregation, dict[str, Any]]:
    """`headstart labels aggregate`: answers of one or more rounds → gold labels in `out`, the
    report (JSON) and the re-annotation queue when asked; returns the result and its summary.
    `crowdlab` calls `score_items(answers)` for a model's probabilities of the items' texts."""
    if not 0 < threshold <= 1 or (budget is not None and budget < 1):
        raise ConfigError(
            f"--threshold must be in (0, 1] and --budget at least 1; got {threshold} and {budget}."
        )
    rows = read_rounds(answers, item_col, annotator_col, label_col)
    scored = score_items(rows) if score_items is not None and method_name(method) == "crowdlab" else None
    result = aggregate(rows, method, seed, model_probabilities=scored)
    rounds = rounds_report(rows, result, threshold, seed, scored)
    write_aggregation(result, out, report, rounds)
    if queue is not None:
        write_table_atomic(reannotation_queue(result, rows, threshold, budget), queue)
    return result, summary(result, rounds)
