"""Dawid–Skene for a label step, refitted in batches: crowd-kit fits each annotator's confusion
matrix on all of the step's answers every REFIT_EVERY answers, and an item's posterior over labels
is then computed from its own answers in microseconds (`kinds.label.posterior`: Bayes' rule with
those matrices), so settling an item never waits for a fit. Exports refit once more on every
answer, so the labels delivered are Dawid–Skene's over the whole project, not the state at settling.
"""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from headstart.extras import optional
from headstart.microtasks.kinds import Vote
from headstart.microtasks.kinds.label import DEFAULT_ACCURACY
from headstart.microtasks.people import weights
from headstart.microtasks.schema import Answer, Item, Project

REFIT_EVERY = 50  # label answers between two fits of a step
PSEUDO_ANSWERS = 4.0  # per true label: how much an annotator's confusion matrix is smoothed


def item_votes(session: Session, item: Item) -> list[Vote]:
    """The item's counted answers as votes; a paused annotator's weigh less (see `people.weights`),
    which matters while their confusion matrix is not fitted yet."""
    rows = session.execute(
        select(Answer.annotator_id, Answer.value).where(Answer.item_id == item.id, Answer.counted)
    ).all()
    people = {person for person, _ in rows if person is not None}
    weight = weights(session, people)
    return [Vote(person, value, weight.get(person, 1.0) if person else 1.0) for person, value in rows]


def step_answers(project: Project, step: str) -> Select[Any]:
    """The counted answers to the step's items (gold left out): item, annotator, label."""
    query = select(Answer.item_id, Answer.annotator_id, Answer.value).join(Item, Item.id == Answer.item_id)
    return query.where(Item.project_id == project.id, Item.step == step, Answer.counted, ~Item.is_gold)


def refit(session: Session, project: Project, step: str, every: int = 1) -> dict[str, Any] | None:
    """The step's model fitted on all its answers, or None when fewer than `every` answers came
    since the stored fit."""
    fitted = project.consensus.get(step, {}).get("answers", 0)
    query = step_answers(project, step)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if count - fitted < every:
        return None
    return fit(answer_frame(session, project, step)) | {"answers": count}


def answer_frame(session: Session, project: Project, step: str) -> pd.DataFrame:
    """The step's counted answers (see `step_answers`) as columns item, annotator, label."""
    rows = session.execute(step_answers(project, step)).all()
    return pd.DataFrame(rows, columns=["item", "annotator", "label"])


def fit(answers: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """A step's model from its answers (columns item, annotator, label; erased annotators left out)."""
    answers = answers.dropna(subset=["annotator"])
    if answers.empty or answers.item.nunique() < 2:
        return {}
    with optional("MicroTasks' Dawid–Skene"):
        from crowdkit.aggregation import DawidSkene

    frame = answers.rename(columns={"item": "task", "annotator": "worker"})[["task", "worker", "label"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crowd-kit's pandas deprecation notices
        model = DawidSkene(n_iter=100, tol=1e-5).fit(frame)
    errors: pd.DataFrame = model.errors_  # rows (worker, observed label), columns: true label
    confusion: dict[str, dict[str, dict[str, float]]] = {}
    for (worker, observed), row in errors.iterrows():
        confusion.setdefault(str(worker), {})[str(observed)] = {str(k): float(v) for k, v in row.items()}
    found: pd.Series = model.priors_
    priors = {str(label): float(p) for label, p in found.items()}
    answered = {str(worker): int(n) for worker, n in answers.groupby("annotator").size().items()}
    smoothed = {worker: _smoothed(matrix, answered[worker], priors) for worker, matrix in confusion.items()}
    return {"priors": priors, "confusion": smoothed, "answers": len(answers)}


def _smoothed(
    matrix: dict[str, dict[str, float]], answered: int, priors: dict[str, float]
) -> dict[str, dict[str, float]]:
    """An annotator's P(observed | true) with PSEUDO_ANSWERS answers per true label of a
    DEFAULT_ACCURACY-right annotator mixed in. Fitted on a few answers each, Dawid–Skene's
    matrices say "never wrong" (or "always wrong this way"); two disagreeing answers then settle
    an item at 99 % either way. The prior keeps a handful of answers from meaning certainty."""
    labels = sorted(priors)
    wrong = (1 - DEFAULT_ACCURACY) / max(len(labels) - 1, 1)
    result: dict[str, dict[str, float]] = {observed: {} for observed in labels}
    for truth in labels:
        seen = answered * priors[truth]  # the annotator's answers on items of this label, expected
        for observed in labels:
            fitted = matrix.get(observed, {}).get(truth, 0.0)
            prior = DEFAULT_ACCURACY if observed == truth else wrong
            result[observed][truth] = (seen * fitted + PSEUDO_ANSWERS * prior) / (seen + PSEUDO_ANSWERS)
    return result
