"""The tables. Annotators are known only by a keyed pseudonym; texts and answers hold no link to a
person but that pseudonym, which erasure removes.

An item is one thing to do at one step of a project (a prompt to write a text for, a text to
validate, a text to label); its answers come through assignments, one per annotator, and an item
is settled (or rejected) when its step's kind says so. Chaining makes new items from settled ones
(`parent_id`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> datetime:
    """The current time, in UTC (stored without a zone: SQLite keeps none)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """The tables' base."""


class Project(Base):
    """A project: its checked project file (as JSON) and its consensus state."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    consensus: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per step: DS confusion matrices
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Annotator(Base):
    """A person, by the HMAC of the app's user id; their languages; paused when below quality."""

    __tablename__ = "annotators"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    languages: Mapped[list[str]] = mapped_column(JSON)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Item(Base):
    """One thing to do at one step: its language, what the annotator sees, and the outcome."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    step: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)  # the prompt, or the text to validate or label
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # e.g. the intent a prompt asks for
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the customer's id
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, settled, rejected
    wanted: Mapped[int] = mapped_column(Integer)  # answers wanted so far (grows while undecided)
    answered: Mapped[int] = mapped_column(Integer, default=0)  # answers that count
    attempts: Mapped[int] = mapped_column(Integer, default=1)  # a rejected text's step is redone
    result: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    gold: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)  # a gold item's known answer
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (Index("ix_items_open", "project_id", "step", "status", "language"),)


class Assignment(Base):
    """An item handed to an annotator; answered once at most (its id makes answers idempotent)."""

    __tablename__ = "assignments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    annotator_id: Mapped[str | None] = mapped_column(ForeignKey("annotators.id"), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_assignments_item", "item_id", "annotator_id"),)


class Answer(Base):
    """What an annotator answered, how long it took, and what the automatic checks flagged."""

    __tablename__ = "answers"
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    annotator_id: Mapped[str | None] = mapped_column(ForeignKey("annotators.id"), nullable=True)
    value: Mapped[Any] = mapped_column(JSON)
    counted: Mapped[bool] = mapped_column(
        Boolean, default=True
    )  # False: refused by a check (language, duplicate)
    seconds: Mapped[float] = mapped_column(Float)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)  # too-fast, duplicate, language, ...
    correct: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # against a gold item's answer
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)

    __table_args__ = (Index("ix_answers_item", "item_id"), Index("ix_answers_annotator", "annotator_id"))


class AppToken(Base):
    """A client allowed to call the API: its name, the SHA-256 of its token and its role ("app":
    tasks and answers; "admin": projects, items, reports, exports, erasure too)."""

    __tablename__ = "app_tokens"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class AuditEvent(Base):
    """Who (an app, or the operator) did what, when; never a text or a person's id in clear."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=now)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
