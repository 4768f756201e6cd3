"""Handing out tasks: the next item an annotator may do, in a language they declared, that they
have not had before and that still wants answers (counting unexpired assignments as answers to
come), later steps first so items finish; with the project's gold rate, a gold item instead, and
gold items first for a newcomer until enough of their answers are scored to judge them. A task the
annotator was given and has not answered yet (their app crashed, a reply was lost) comes back
first, with the same assignment id, until it expires."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, exists, func, select
from sqlalchemy.orm import Session

from headstart.microtasks.people import gold_record
from headstart.microtasks.project import ProjectSpec
from headstart.microtasks.schema import Annotator, Answer, Assignment, Item, Project, now

# What an annotator is shown of a step's options, by kind (the rest is the engine's business).
SHOWN = {
    "label": ("labels", "multiple"),
    "tag": ("tags",),
    "rate": ("low", "high"),
    "create": ("min_characters", "max_characters"),
    "validate": (),
}


@dataclass(frozen=True)
class Task:
    """What an app shows the annotator, and the assignment id to answer with."""

    assignment: str
    project: str
    step: str
    kind: str
    language: str
    text: str
    data: dict[str, Any]  # what the customer's row said of the item (e.g. the intent a text must have)
    options: dict[str, Any]
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of GET /next-task."""
        return {**vars(self), "expires_at": self.expires_at.isoformat() + "Z"}


def next_task(
    session: Session, project: Project, spec: ProjectSpec, person: Annotator, rng: random.Random
) -> Task | None:
    """Assign the annotator their next item of `project`, or None when there is none for them."""
    languages = [language for language in person.languages if language in spec.languages]
    if person.paused or not languages:
        return None
    moment = now()
    unanswered = session.execute(
        select(Assignment, Item)
        .join(Item, Item.id == Assignment.item_id)
        .where(
            Assignment.annotator_id == person.id,
            Assignment.answered.is_(False),
            Assignment.expires_at > moment,
            Item.project_id == project.id,
            Item.status == "open",
        )
        .limit(1)
    ).first()
    if unanswered is not None:
        return _task(unanswered.Assignment, unanswered.Item, spec)
    item = None
    # A newcomer does gold items first, until their accuracy can be judged; then the gold rate.
    newcomer = gold_record(session, person.id).answers < spec.quality.min_gold_answers
    if spec.gold_rate and (newcomer or rng.random() < spec.gold_rate):
        item = session.scalars(_candidates(project, spec, person, languages, moment, gold=True)).first()
    if item is None:
        item = _wanted_item(
            session, _candidates(project, spec, person, languages, moment, gold=False), moment
        )
    if item is None:
        return None
    assignment = Assignment(
        id=str(uuid.uuid4()),
        item_id=item.id,
        annotator_id=person.id,
        expires_at=moment + timedelta(seconds=spec.assignment_seconds),
    )
    session.add(assignment)
    return _task(assignment, item, spec)


def _wanted_item(session: Session, candidates: Select[Item], moment: datetime) -> Item | None:
    """The first candidate that, now locked, still wants an answer. On PostgreSQL a request may lock
    an item just after another committed an assignment to it: the row is unchanged, so its
    candidate query's snapshot (no assignment pending) is not checked again, and the item went out
    once too often. Counted again under the lock, the pending assignments are all there."""
    skipped: list[int] = []
    while (item := session.scalars(candidates.where(Item.id.not_in(skipped))).first()) is not None:
        if item.answered + (session.scalar(_pending(item.id, moment)) or 0) < item.wanted:
            return item
        skipped.append(item.id)
    return None


def _task(assignment: Assignment, item: Item, spec: ProjectSpec) -> Task:
    step = spec.step(item.step)
    shown = {key: step.options[key] for key in SHOWN[step.kind]}
    return Task(
        assignment.id,
        spec.name,
        step.name,
        step.kind,
        item.language,
        item.text,
        item.data,
        shown,
        assignment.expires_at,
    )


def _candidates(
    project: Project, spec: ProjectSpec, person: Annotator, languages: list[str], moment: datetime, gold: bool
) -> Select[Item]:
    """Open items the annotator may get, best first, locked so no other process takes them too."""
    pending = _pending(Item.id, moment).scalar_subquery()
    had = exists().where(Assignment.item_id == Item.id, Assignment.annotator_id == person.id)
    own_work = exists().where(Answer.item_id == Item.parent_id, Answer.annotator_id == person.id)
    query = select(Item).where(
        Item.project_id == project.id,
        Item.status == "open",
        Item.is_gold.is_(gold),
        Item.language.in_(languages),
        ~had,
        ~own_work,  # nobody validates or labels what they wrote or judged themselves
    )
    if gold:  # a gold item is never settled: anyone may do it once
        return query.order_by(func.random()).limit(1)
    later_first = case(
        {name: rank for rank, name in enumerate(reversed(list(spec.steps)))}, value=Item.step, else_=99
    )
    query = query.where(Item.answered + pending < Item.wanted).order_by(later_first, Item.id).limit(1)
    return query.with_for_update(skip_locked=True)


def _pending(item: Any, moment: datetime) -> Select[int]:
    """How many assignments to `item` (an id, or the Item.id column) are out and unanswered."""
    return select(func.count()).where(
        Assignment.item_id == item, Assignment.answered.is_(False), Assignment.expires_at > moment
    )
