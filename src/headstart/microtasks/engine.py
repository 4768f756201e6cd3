"""`MicroTasks`: one object over a database that the HTTP service, the CLI and tests share. Each
method is one transaction."""

from __future__ import annotations

import hashlib
import random
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select

from headstart.data.languages import detect_languages
from headstart.errors import ConfigError
from headstart.microtasks import answers, assign, intake, people
from headstart.microtasks.consensus import step_answers
from headstart.microtasks.database import connect, purge_erased, sessions, upgrade
from headstart.microtasks.page import project_page
from headstart.microtasks.project import ProjectSpec, load_project
from headstart.microtasks.report import export_rows, progress
from headstart.microtasks.schema import AppToken, AuditEvent, Item
from headstart.privacy.pseudonyms import Pseudonymizer

if TYPE_CHECKING:
    from headstart.runs import Run

ROLES = ("app", "admin")


class MicroTasks:
    """The task service's state: a database URL and the key for pseudonyms (None is enough to
    read progress, pages and exports)."""

    def __init__(self, url: str, key: bytes | None, seed: int | None = None, create: bool = True) -> None:
        self.engine = connect(url, create)
        self.revision = upgrade(self.engine)
        self.sessions = sessions(self.engine)
        self._key = key  # None: reports and exports only
        self.random = random.Random(seed)
        self.checks = answers.Checks(
            language_of=lambda text: detect_languages([text])[0],
            pseudonymize=self._pseudonymize,
            label_sets=self._label_sets,
        )
        self._runs: dict[str, Run] = {}  # model rules' runs, loaded once

    @property
    def key(self) -> bytes:
        """The key for pseudonyms; refused in one line when the service was opened without one."""
        if self._key is None:
            raise ConfigError(
                "This needs the pseudonym key: set $HEADSTART_PSEUDONYM_KEY or pass --key-file."
            )
        return self._key

    def _pseudonymize(self, text: str) -> str:
        return Pseudonymizer(self.key).text(text)  # a fresh one: no value is kept in memory

    def _label_sets(self, run: str, texts: list[str], coverage: float) -> list[list[str]]:
        from headstart.runs import load_run  # torch: only for projects with a model rule

        if run not in self._runs:
            self._runs[run] = load_run(run)
        return self._runs[run].prediction_sets(texts, coverage, show_progress=False)

    def save_project(self, source: str | Path | ProjectSpec, actor: str = "operator") -> str:
        """Create or update a project from its file (or a checked spec); returns its name."""
        spec = source if isinstance(source, ProjectSpec) else load_project(source)
        with self.sessions.begin() as session:
            intake.save_project(session, spec, actor)
        return spec.name

    def add_items(self, project: str, step: str, rows: list[dict[str, Any]], actor: str = "operator") -> int:
        """Add items to a project's step (see `intake.add_items`)."""
        with self.sessions.begin() as session:
            found, spec = intake.find_project(session, project)
            return intake.add_items(
                session, found, spec, step, rows, self._pseudonymize, self._label_sets, actor
            )

    def next_task(self, project: str, user_id: str, languages: list[str] | None = None) -> dict[str, Any]:
        """{"task": the annotator's next task, or None with a "reason" (paused, or none left)}."""
        with self.sessions.begin() as session:
            found, spec = intake.find_project(session, project)
            person = people.annotator(session, self.key, user_id, languages)
            task = assign.next_task(session, found, spec, person, self.random)
            if task is not None:
                return {"task": task.to_dict()}
            reason = (
                "paused: too few gold answers right" if person.paused else "no task left in your languages"
            )
            return {"task": None, "reason": reason}

    def answer(self, assignment: str, value: Any, seconds: float) -> dict[str, Any]:
        """Store an answer (idempotent by assignment id) and apply what it decides."""
        with self.sessions.begin() as session:
            return answers.take_answer(session, assignment, value, seconds, self.checks)

    def erase(self, user_id: str, actor: str = "operator") -> dict[str, int]:
        """Erase a person's link to their answers (see `people.erase`), also from the files' free space."""
        with self.sessions.begin() as session:
            counts = people.erase(session, self.key, user_id, actor)
        purge_erased(self.engine)
        return counts

    def progress(self, project: str) -> dict[str, Any]:
        """The project's figures (see `report.progress`)."""
        with self.sessions.begin() as session:
            found, spec = intake.find_project(session, project)
            return progress(session, found, spec)

    def page(self, project: str, figures: dict[str, Any] | None = None) -> str:
        """The project page: progress, agreement, annotator quality, cost, the rules as a graph.
        `figures`: the project's `progress`, when the caller has just read it."""
        with self.sessions.begin() as session:
            found, spec = intake.find_project(session, project)
            figures = figures or progress(session, found, spec)
        return project_page(figures, spec)

    def export(self, project: str, soft: bool = False) -> list[dict[str, Any]]:
        """The settled items of the project's last steps, one row each (see `report.export_rows`)."""
        with self.sessions.begin() as session:
            found, spec = intake.find_project(session, project)
            return export_rows(session, found, spec, soft)

    def answers(self, project: str, step: str) -> pd.DataFrame:
        """A step's counted answers (gold left out) in the crowd format: item, annotator, label, text;
        `labels aggregate` or crowd-kit read it as is."""
        with self.sessions.begin() as session:
            found, spec = intake.find_project(session, project)
            spec.step(step)
            rows = session.execute(step_answers(found, step).add_columns(Item.text)).all()
        return pd.DataFrame(rows, columns=["item", "annotator", "label", "text"])

    def create_token(self, name: str, role: str = "app", actor: str = "operator") -> str:
        """A new token for a client (shown once; only its hash is stored)."""
        if role not in ROLES:
            raise ConfigError(f"A token's role is one of {', '.join(ROLES)}; got {role!r}.")
        token = secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            if session.get(AppToken, name) is not None:
                raise ConfigError(f"A token named '{name[:100]}' exists; choose another name.")
            session.add(
                AppToken(name=name, token_sha256=hashlib.sha256(token.encode()).hexdigest(), role=role)
            )
            session.add(AuditEvent(actor=actor, action="create token", detail={"name": name, "role": role}))
        return token

    def client(self, token: str) -> AppToken | None:
        """The client a bearer token belongs to, or None."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self.sessions.begin() as session:
            return session.scalar(select(AppToken).where(AppToken.token_sha256 == digest))
