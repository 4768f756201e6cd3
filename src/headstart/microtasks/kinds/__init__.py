"""The task kinds, one module each, registered here by name."""

from __future__ import annotations

from headstart.microtasks.kinds.base import AnswerError, Kind, Outcome, Vote
from headstart.microtasks.kinds.create import Create
from headstart.microtasks.kinds.label import Label
from headstart.microtasks.kinds.rate import Rate
from headstart.microtasks.kinds.tag import Tag
from headstart.microtasks.kinds.validate import Validate

KINDS: dict[str, type[Kind]] = {kind.name: kind for kind in (Label, Tag, Create, Validate, Rate)}

__all__ = ["KINDS", "AnswerError", "Kind", "Outcome", "Vote"]
