"""Taking an answer: idempotent by assignment id, checked by its kind, flagged by the automatic
checks, then the item is settled, rejected or asks for one more answer, and settled items chain to
their next step. Gold answers score the annotator instead (and may pause them).

Automatic checks: an answer faster than `too_fast_seconds` is flagged (kept, and counted); a created
text in another language than its item's, or one the project already has, is flagged and not
counted, so the item goes to someone else; personal data in a created text is pseudonymised before
it is stored, so nobody else ever sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from headstart.errors import ConfigError
from headstart.microtasks.consensus import REFIT_EVERY, item_votes, refit
from headstart.microtasks.kinds import KINDS, Outcome
from headstart.microtasks.people import update_pause
from headstart.microtasks.project import ProjectSpec, Step, from_dict
from headstart.microtasks.routing import ROUTING_KEYS, LabelSets, route
from headstart.microtasks.schema import Annotator, Answer, Assignment, Item, Project, now


class UnknownAssignmentError(ConfigError):
    """An answer to an assignment that was never handed out."""


class ClosedItemError(ConfigError):
    """An answer to an item that was settled (or rejected) since it was handed out."""


@dataclass(frozen=True)
class Checks:
    """What the engine needs from outside to check created texts."""

    language_of: Callable[[str], str]  # an ISO 639-1 code
    pseudonymize: Callable[[str], str]
    label_sets: LabelSets  # for label steps with a model rule


def take_answer(
    session: Session, assignment_id: str, value: Any, seconds: float, checks: Checks
) -> dict[str, Any]:
    """Store the answer to `assignment_id` (once: a repeat returns the first answer's receipt)."""
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise UnknownAssignmentError(f"No task was handed out with assignment id '{assignment_id[:40]}'.")
    earlier = session.scalar(select(Answer).where(Answer.assignment_id == assignment_id))
    if earlier is not None:
        return receipt(earlier, session.get(Item, earlier.item_id))
    item = session.get(Item, assignment.item_id, with_for_update=True)  # one answer at a time per item
    assert item is not None  # a foreign key
    if item.status != "open":
        raise ClosedItemError("This task was settled by other answers meanwhile; ask for the next one.")
    project = session.get(Project, item.project_id)
    assert project is not None
    spec = from_dict(project.spec)
    step = spec.step(item.step)
    checked = KINDS[step.kind].check_answer(value, step.options, item.text)
    flags = ["too-fast"] if seconds < spec.quality.too_fast_seconds else []
    if step.kind == "create":
        checked, refused = _check_created(session, project, item, checked, checks, step.options)
        flags += refused
    answer = Answer(
        assignment_id=assignment_id,
        item_id=item.id,
        annotator_id=assignment.annotator_id,
        value=checked,
        counted=not set(flags) - {"too-fast"},
        seconds=float(seconds),
        flags=flags,
    )
    session.add(answer)
    assignment.answered = True
    if item.is_gold:
        answer.correct = KINDS[step.kind].gold_correct(checked, item.gold)
        session.flush()
        person = session.get(Annotator, assignment.annotator_id) if assignment.annotator_id else None
        if person is not None:
            update_pause(session, person, spec)
    elif answer.counted:
        item.answered += 1
        session.flush()
        settle(session, project, spec, step, item, checks.label_sets)
    return receipt(answer, item)


def _check_created(
    session: Session,
    project: Project,
    item: Item,
    checked: dict[str, str],
    checks: Checks,
    options: dict[str, Any],
) -> tuple[dict[str, str], list[str]]:
    """The created text pseudonymised, and the flags that refuse it (another language, a duplicate)."""
    text = checks.pseudonymize(checked["text"])
    refused = []
    if options["check_language"] and checks.language_of(text) != item.language:
        refused.append("language")
    twin = select(Item.id).where(
        Item.project_id == project.id, Item.parent_id.is_not(None), Item.text == text
    )
    if session.scalar(twin.limit(1)) is not None:
        refused.append("duplicate")
    return {"text": text}, refused


def receipt(answer: Answer, item: Item | None) -> dict[str, Any]:
    """What the client hears back: the answer is stored, its flags, and the item's state."""
    return {"accepted": answer.counted, "flags": answer.flags, "item_status": item.status if item else "gone"}


def settle(
    session: Session, project: Project, spec: ProjectSpec, step: Step, item: Item, label_sets: LabelSets
) -> None:
    """Apply what the item's answers decide: settle and chain it, reject it, or want one more."""
    votes = item_votes(session, item)
    if step.kind == "label":
        _refit_if_due(session, project, step)
    outcome = KINDS[step.kind].decide(votes, step.options, project.consensus.get(step.name))
    if outcome.state == "more":
        item.wanted = max(item.wanted, item.answered + 1)
    elif outcome.state == "settled":
        _close(item, "settled", outcome)
        if step.next is not None:
            following = spec.step(step.next)
            enter(session, spec, following, [_follow_up(item, step, following, outcome)], label_sets)
    else:
        _close(item, "rejected", outcome)
        _redo(session, spec, step, item)


def enter(session: Session, spec: ProjectSpec, step: Step, items: list[Item], label_sets: LabelSets) -> None:
    """Items entering a step: stored, routed by the step's model rule, and the ones the model
    settled passed on to the next step."""
    session.add_all(items)
    settled = route(items, step, label_sets)
    if settled and step.next is not None:
        session.flush()  # the follow-ups point to these items' ids
        following = spec.step(step.next)
        chained = [_follow_up(item, step, following, Outcome("settled", item.result)) for item in settled]
        enter(session, spec, following, chained, label_sets)


def _close(item: Item, status: str, outcome: Outcome) -> None:
    item.status, item.result, item.confidence, item.settled_at = (
        status,
        outcome.result,
        outcome.confidence,
        now(),
    )


def _follow_up(item: Item, done: Step, step: Step, outcome: Outcome) -> Item:
    """The next step's item: a created text becomes the text; other kinds pass their text on, with
    their result kept in the item's data under the step's name."""
    created = done.kind == "create"
    data = {key: value for key, value in item.data.items() if key not in ROUTING_KEYS}
    return Item(
        project_id=item.project_id,
        step=step.name,
        language=item.language,
        text=outcome.result if created else item.text,
        data=data if created else {**data, done.name: outcome.result},
        external_id=item.external_id,
        parent_id=item.id,
        wanted=KINDS[step.kind].first_wanted(step.options),
    )


def _redo(session: Session, spec: ProjectSpec, step: Step, item: Item) -> None:
    """A rejected text: its create item is open again for someone else, up to max_attempts."""
    if step.redo is None or item.parent_id is None:
        return
    source = session.get(Item, item.parent_id)
    if source is None or source.step != step.redo:
        return
    if source.attempts >= step.options["max_attempts"]:
        source.status = "rejected"
        return
    source.status, source.result, source.settled_at = "open", None, None
    source.attempts += 1
    source.wanted = source.answered + 1


def _refit_if_due(session: Session, project: Project, step: Step) -> None:
    """Refit the step's Dawid–Skene model once REFIT_EVERY answers came since the last fit. One
    request refits at a time: one that finds the project row locked decides with the model it has.
    On PostgreSQL, every answer that came while a fit ran started a fit of its own, and one of 32
    clients waited over a minute; SQLite writes one transaction at a time anyway."""
    if step.options["multiple"]:
        return
    mine = select(Project).where(Project.id == project.id).with_for_update(skip_locked=True)
    if session.scalar(mine.execution_options(populate_existing=True)) is None:
        return
    model = refit(session, project, step.name, REFIT_EVERY)
    if model is not None:
        project.consensus = {**project.consensus, step.name: model}
