"""A project's figures (progress per step, annotator quality, cost per settled item) and its
settled items as rows to export. Annotators appear by the first 8 characters of their pseudonym."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headstart.microtasks.consensus import item_votes, refit
from headstart.microtasks.kinds.label import posterior
from headstart.microtasks.project import ProjectSpec
from headstart.microtasks.schema import Annotator, Answer, Item, Project


def progress(session: Session, project: Project, spec: ProjectSpec) -> dict[str, Any]:
    """Items by step and state, answers, annotators and what a settled item cost."""
    steps: dict[str, dict[str, Any]] = {}
    for name, step in spec.steps.items():
        states = dict(
            session.execute(
                select(Item.status, func.count())
                .where(Item.project_id == project.id, Item.step == name, ~Item.is_gold)
                .group_by(Item.status)
            ).all()
        )
        confidence = session.scalar(
            select(func.avg(Item.confidence)).where(
                Item.project_id == project.id, Item.step == name, Item.status == "settled"
            )
        )
        steps[name] = {"kind": step.kind, **{s: states.get(s, 0) for s in ("open", "settled", "rejected")}}
        steps[name]["mean_confidence"] = None if confidence is None else round(float(confidence), 4)
    rows = session.execute(
        select(Answer.annotator_id, Answer.seconds, Answer.correct, Answer.counted)
        .join(Item, Item.id == Answer.item_id)
        .where(Item.project_id == project.id)
    ).all()
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
    step's answers (refitted now); with `soft`, its posterior too, as p_<label>."""
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
        model = _final_model(session, project, step.name) if single_label else None
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
                found = posterior(item_votes(session, item), step.options["labels"], model)
                row["label"] = max(found, key=lambda label: found[label])
                row["confidence"] = found[row["label"]]
                if soft:
                    row |= {f"p_{label}": round(p, 6) for label, p in found.items()}
            rows.append(row)
    return rows


def _final_model(session: Session, project: Project, step: str) -> dict[str, Any] | None:
    """The step's Dawid–Skene model over every answer so far (the stored one if none came since)."""
    return refit(session, project, step) or project.consensus.get(step)
