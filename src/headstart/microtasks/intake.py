"""Projects and items in: a project from its checked file, items into a step (pseudonymised on the
way in, so no annotator sees the customer's personal data), gold items with their known answer,
and a trained run's uncertain texts (`predict --queue`) routed into a label step."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from headstart.errors import ConfigError, DataError
from headstart.microtasks.answers import enter
from headstart.microtasks.kinds import KINDS, AnswerError
from headstart.microtasks.project import ProjectSpec, from_dict
from headstart.microtasks.routing import LabelSets
from headstart.microtasks.schema import AuditEvent, Item, Project

MAX_TEXT = 20_000  # characters of one item's text


class UnknownProjectError(ConfigError):
    """A project name that is not in the database."""


def save_project(session: Session, spec: ProjectSpec, actor: str) -> Project:
    """Create the project, or replace the spec of the one of that name (its items stay)."""
    project = session.scalar(select(Project).where(Project.name == spec.name))
    if project is None:
        project = Project(name=spec.name, spec=spec.to_dict(), consensus={})
        session.add(project)
    else:
        removed = sorted({item_step for item_step in _steps_with_items(session, project)} - set(spec.steps))
        if removed:
            raise ConfigError(
                f"Project '{spec.name}' has items in step(s) {removed}, which the new file drops."
            )
        project.spec = spec.to_dict()
    session.add(AuditEvent(actor=actor, action="save project", detail={"project": spec.name}))
    session.flush()
    return project


def _steps_with_items(session: Session, project: Project) -> Iterable[str]:
    return session.scalars(select(Item.step).where(Item.project_id == project.id).distinct())


def find_project(session: Session, name: str) -> tuple[Project, ProjectSpec]:
    """The project called `name` and its spec."""
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise UnknownProjectError(f"No project called '{name[:100]}'; create it from its project file first.")
    return project, from_dict(project.spec)


def add_items(
    session: Session,
    project: Project,
    spec: ProjectSpec,
    step_name: str,
    rows: list[dict[str, Any]],
    pseudonymize: Callable[[str], str],
    label_sets: LabelSets,
    actor: str,
) -> int:
    """Add rows ({"text", "language", optional "id", "data", "gold"}) to a step; returns how many.
    A row with "gold" is a gold item: its answer is known and it measures annotators. A label
    step's model rule settles the items its run is sure of (see `routing`)."""
    step = spec.step(step_name)
    kind = KINDS[step.kind]
    items = []
    for number, row in enumerate(rows):
        text, language = _checked_row(row, number, spec)
        gold = row.get("gold")
        if gold is not None:
            try:
                gold = kind.check_answer(gold, step.options, text)
            except AnswerError as error:
                raise DataError(
                    f"Row {number}: its gold answer does not fit step '{step.name}': {error}"
                ) from None
        items.append(
            Item(
                project_id=project.id,
                step=step.name,
                language=language,
                text=pseudonymize(text),
                data=row.get("data") or {},
                external_id=None if row.get("id") is None else str(row["id"])[:200],
                wanted=kind.first_wanted(step.options),
                is_gold=gold is not None,
                gold=gold,
            )
        )
    enter(session, spec, step, items, label_sets)
    session.add(
        AuditEvent(
            actor=actor,
            action="add items",
            detail={"project": spec.name, "step": step.name, "items": len(items)},
        )
    )
    return len(items)


def _checked_row(row: Any, number: int, spec: ProjectSpec) -> tuple[str, str]:
    if not isinstance(row, dict) or set(row) - {"text", "language", "id", "data", "gold"}:
        raise DataError(f"Row {number} must be an object with text, language and optional id, data, gold.")
    text, language = row.get("text"), row.get("language")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise DataError(f"Row {number}: text must be 1 to {MAX_TEXT} characters.")
    if language not in spec.languages:
        raise DataError(
            f"Row {number}: language {str(language)[:20]!r} is not one of the project's {spec.languages}."
        )
    if row.get("data") is not None and not isinstance(row["data"], dict):
        raise DataError(f"Row {number}: data must be an object.")
    return text, language
