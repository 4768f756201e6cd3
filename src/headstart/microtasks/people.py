"""Annotators: a keyed pseudonym instead of the app's user id, their languages, their accuracy on
gold items, the pause that follows a low one, and erasure (GDPR art. 17)."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from headstart.errors import ConfigError
from headstart.microtasks.project import ProjectSpec, from_dict
from headstart.microtasks.schema import Annotator, Answer, Assignment, AuditEvent, Item, Project

PAUSED_WEIGHT = 0.25  # how much a paused annotator's earlier answers still count in consensus
MAX_USER_ID = 200


class UnknownAnnotatorError(ConfigError):
    """An annotator id never seen (or already erased)."""


def pseudonym(key: bytes, user_id: str) -> str:
    """The annotator's id in every table: HMAC-SHA256 of the app's user id (32 hex characters)."""
    if not isinstance(user_id, str) or not 0 < len(user_id) <= MAX_USER_ID:
        raise ConfigError(f"An annotator id is 1 to {MAX_USER_ID} characters; got {len(str(user_id))}.")
    return hmac.new(key, b"annotator\x00" + user_id.encode(), hashlib.sha256).hexdigest()[:32]


def annotator(session: Session, key: bytes, user_id: str, languages: list[str] | None) -> Annotator:
    """The annotator (made on first sight); `languages`, when given, replace the declared ones."""
    found = session.get(Annotator, pseudonym(key, user_id))
    if found is None:
        if not languages:
            raise ConfigError("A new annotator declares the languages they work in: lang=en or lang=en,fr.")
        found = Annotator(id=pseudonym(key, user_id), languages=languages, paused=False)
        session.add(found)
    elif languages:
        found.languages = languages
    return found


@dataclass(frozen=True)
class GoldRecord:
    """An annotator's answers on gold items and how many were right."""

    answers: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        """The share right, or None before any gold answer."""
        return self.correct / self.answers if self.answers else None


def gold_record(session: Session, annotator_id: str) -> GoldRecord:
    """How the annotator did on gold items, across projects."""
    rows = session.execute(
        select(func.count(), func.sum(case((Answer.correct.is_(True), 1), else_=0))).where(
            Answer.annotator_id == annotator_id, Answer.correct.is_not(None)
        )
    ).one()
    return GoldRecord(int(rows[0] or 0), int(rows[1] or 0))


def update_pause(session: Session, person: Annotator, spec: ProjectSpec) -> None:
    """Pause the annotator once their gold answers put them below the project's accuracy bar with
    some confidence: the upper end of the Wilson interval (z = 1, one-sided ~84 %) is below it. A
    plain share would pause a 75 %-right person after 5 gold answers 37 % of the time (at a bar
    of 0.7); this pauses them 10 % of the time, and a random guesser among 3 labels 79 %."""
    record = gold_record(session, person.id)
    if record.answers >= spec.quality.min_gold_answers:
        person.paused = wilson_upper(record.correct, record.answers) < spec.quality.min_gold_accuracy


def wilson_upper(successes: int, trials: int, z: float = 1.0) -> float:
    """The upper end of the Wilson score interval for a share of successes."""
    share, spread = successes / trials, z * z / trials
    centre = share + spread / 2
    margin = z * math.sqrt(share * (1 - share) / trials + spread / (4 * trials))
    return (centre + margin) / (1 + spread)


def weights(session: Session, annotator_ids: set[str]) -> dict[str, float]:
    """Each annotator's weight in consensus: 1, or PAUSED_WEIGHT when paused."""
    if not annotator_ids:
        return {}
    paused = session.scalars(select(Annotator.id).where(Annotator.id.in_(annotator_ids), Annotator.paused))
    return {person: PAUSED_WEIGHT if person in set(paused) else 1.0 for person in annotator_ids}


def erase(session: Session, key: bytes, user_id: str, actor: str) -> dict[str, int]:
    """Remove every link between the person and their answers: per project, answers are kept without
    an annotator (`erasure: anonymise`) or deleted (`erasure: delete`); their assignments lose the
    link, their confusion matrices leave the consensus state, and the annotator row goes. The audit
    log records counts only."""
    person = session.get(Annotator, pseudonym(key, user_id))
    if person is None:
        raise UnknownAnnotatorError("No annotator has that id (or it was erased before); nothing was erased.")
    counts = {"anonymised": 0, "deleted": 0}
    for project in session.scalars(select(Project)):
        mine = (
            select(Answer.id)
            .join(Item, Item.id == Answer.item_id)
            .where(Item.project_id == project.id, Answer.annotator_id == person.id)
        )
        ids = list(session.scalars(mine))
        if from_dict(project.spec).erasure == "delete":
            session.execute(delete(Answer).where(Answer.id.in_(ids)))
            counts["deleted"] += len(ids)
        else:
            session.execute(update(Answer).where(Answer.id.in_(ids)).values(annotator_id=None))
            counts["anonymised"] += len(ids)
        project.consensus = _without(project.consensus, person.id)
    session.execute(update(Assignment).where(Assignment.annotator_id == person.id).values(annotator_id=None))
    session.delete(person)
    session.add(AuditEvent(actor=actor, action="erase annotator", detail=counts))
    return counts


def _without(consensus: dict[str, Any], person: str) -> dict[str, Any]:
    """The consensus state with the person's confusion matrix dropped from every step."""
    return {
        step: {**model, "confusion": {k: v for k, v in model.get("confusion", {}).items() if k != person}}
        for step, model in consensus.items()
    }
