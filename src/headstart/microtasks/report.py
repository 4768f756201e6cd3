"""A project's figures (progress per step, annotator quality, cost per settled item) and its
settled items as rows to export. Annotators appear by the first 8 characters of their pseudonym."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headstart.microtasks.consensus import answer_frame, fit
from headstart.microtasks.kinds import Vote
from headstart.microtasks.kinds.label import posterior
from headstart.microtasks.project import ProjectSpec
from headstart.microtasks.schema import Annotator, Answer, Item, Project


def progress(session: Session, project: Project, spec: ProjectSpec) -> dict[str, Any]:
    """Items by step and state, agreement (settled items' confidence), answers and seconds per
    step, annotators and what a settled item of the last steps cost in answers and seconds."""
    rows = session.execute(
        select(Answer.annotator_id, Answer.seconds, Answer.correct, Answer.counted, Item.step, Item.is_gold)
        .join(Item, Item.id == Answer.item_id)
        .where(Item.project_id == project.id)
    ).all()
    steps = {name: _step(session, project, name, step.kind, rows) for name, step in spec.steps.items()}
    final = [name for name, step in spec.steps.items() if step.next is None]
    settled = sum(int(steps[name]["settled"]) for name in final)
    return {
        "project": spec.name,
        "steps": steps,
        "answers": len(rows),
        "answers_refused": sum(1 for row in rows if not row.counted),
        "settled_final": settled,
        "answers_per_settled_item": round(len(rows) / settled, 3) if settled else None,
        "seconds_per_settled_item": round(sum(row.seconds for row in rows) / settled, 1) if settled else None,
        "annotators": _annotators(session, rows),
    }


def _step(session: Session, project: Project, name: str, kind: str, rows: Sequence[Any]) -> dict[str, Any]:
    """One step's items by state, its answers and seconds, and its settled items' confidence."""
    mine = (Item.project_id == project.id, Item.step == name, ~Item.is_gold)
    states = dict(session.execute(select(Item.status, func.count()).where(*mine).group_by(Item.status)).all())
    confidences = [
        float(value)
        for value in session.scalars(select(Item.confidence).where(*mine, Item.status == "settled"))
        if value is not None
    ]
    answers = [row for row in rows if row.step == name and not row.is_gold]
    return {
        "kind": kind,
        **{state: states.get(state, 0) for state in ("open", "settled", "rejected")},
        "answers": len(answers),  # to the step's own items; gold answers are counted apart
        "gold_answers": sum(1 for row in rows if row.step == name and row.is_gold),
        "seconds": round(sum(row.seconds for row in answers), 1),
        "mean_confidence": round(statistics.fmean(confidences), 4) if confidences else None,
        # settled items by confidence, in tenths: [0, 0.1), ..., [0.9, 1]
        "confidence_counts": [
            sum(1 for c in confidences if min(int(c * 10), 9) == tenth) for tenth in range(10)
        ],
    }


def _annotators(session: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
    by_person: dict[str, list[Any]] = {}
    for row in rows:
        if row.annotator_id is not None:
            by_person.setdefault(row.annotator_id, []).append(row)
    paused = set(session.scalars(select(Annotator.id).where(Annotator.paused)))
    table = []
    for person, answers in sorted(by_person.items()):
        gold = [bool(row.correct) for row in answers if row.correct is not None]
        table.append(
            {
                "annotator": person[:8],
                "answers": len(answers),
                "gold_answers": len(gold),
                "gold_accuracy": round(sum(gold) / len(gold), 4) if gold else None,
                "median_seconds": round(statistics.median(row.seconds for row in answers), 1),
                "paused": person in paused,
            }
        )
    return table


def export_rows(
    session: Session, project: Project, spec: ProjectSpec, soft: bool = False
) -> list[dict[str, Any]]:
    """One row per settled item of the project's last steps: id, language, text, result, confidence,
    and what earlier steps decided. A single-label step's label is Dawid–Skene's over all of the
    step's answers (refitted now, every annotator weighed by their fitted confusion matrix alone),
    or its model rule's (`settled_by: model`); with `soft`, the
    posterior too, as p_<label>."""
    final = [step for step in spec.steps.values() if step.next is None]
    rows = []
    for step in final:
        items = session.scalars(
            select(Item)
            .where(
                Item.project_id == project.id, Item.step == step.name, Item.status == "settled", ~Item.is_gold
            )
            .order_by(Item.id)
        )
        single_label = step.kind == "label" and not step.options["multiple"]
        answers = answer_frame(session, project, step.name) if single_label else None
        model = None if answers is None else _final_model(project, step.name, answers)
        votes = {} if answers is None else _votes_by_item(answers)
        for item in items:
            row = {
                "id": item.external_id or str(item.id),
                "language": item.language,
                "text": item.text,
                "step": step.name,
                "label" if step.kind == "label" else "result": item.result,
                "confidence": item.confidence,
                **{
                    key: value
                    for key, value in item.data.items()
                    if isinstance(value, str | int | float | bool)
                },
            }
            if single_label:
                labels, by_model = step.options["labels"], item.data.get("settled_by") == "model"
                found = (
                    {label: float(label == item.result) for label in labels}  # the model rule's set of one
                    if by_model
                    else posterior(votes.get(item.id, []), labels, model)  # Dawid–Skene's own
                )
                row["label"] = max(found, key=lambda label: found[label])
                row["confidence"] = item.confidence if by_model else found[row["label"]]
                if soft:
                    row |= {f"p_{label}": round(p, 6) for label, p in found.items()}
            rows.append(row)
    return rows


def _votes_by_item(answers: pd.DataFrame) -> dict[int, list[Vote]]:
    """Every counted answer of the step as an unweighted vote, by item."""
    votes: dict[int, list[Vote]] = {}
    for item, person, value in answers.itertuples(index=False):
        votes.setdefault(item, []).append(Vote(person, value, 1.0))
    return votes


def _final_model(project: Project, step: str, answers: pd.DataFrame) -> dict[str, Any] | None:
    """The step's Dawid–Skene model over all its answers (the stored one if none came since)."""
    stored = project.consensus.get(step)
    if len(answers) > (stored or {}).get("answers", 0):
        return fit(answers) | {"answers": len(answers)}
    return stored
