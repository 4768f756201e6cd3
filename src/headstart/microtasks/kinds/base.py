"""What every task kind answers: its options (checked, defaults filled), whether an answer is
well-formed, and what an item's answers so far decide. The engine does the rest (assignments,
chaining, quality), the same for every kind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from headstart.errors import ConfigError


class AnswerError(ValueError):
    """An answer that is not of its task's form; the message says what is expected."""


@dataclass(frozen=True)
class Vote:
    """One answer as a kind weighs it: who gave it (None once erased or unknown) and its value."""

    annotator: str | None
    value: Any
    weight: float = 1.0  # lower for annotators paused for their gold accuracy


@dataclass(frozen=True)
class Outcome:
    """What an item's answers decide: settled (with a result), rejected, or more answers needed."""

    state: str  # "settled", "rejected" or "more"
    result: Any = None
    confidence: float | None = None


MORE = Outcome("more")


class Kind(ABC):
    """A task kind: a small config (its options) and three rules."""

    name: ClassVar[str]
    summary: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}  # every option and its default

    @classmethod
    def check_options(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        """The step's options with defaults filled in; a ConfigError names what is wrong."""
        unknown = sorted(set(options) - set(cls.defaults))
        if unknown:
            raise ConfigError(
                f"{where} ({cls.name}) has unknown option(s) {unknown}; it takes {sorted(cls.defaults)}."
            )
        checked = {**cls.defaults, **options}
        cls.validate_options(checked, where)
        return checked

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        """Cross-option checks (raise ConfigError); none by default."""
        return None

    @staticmethod
    def positive(options: dict[str, Any], key: str, where: str) -> None:
        """options[key] is a whole number of at least 1."""
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}: {key} must be a whole number of at least 1; got {value!r}.")

    @classmethod
    def first_wanted(cls, options: dict[str, Any]) -> int:
        """How many answers an item of the step wants at first."""
        return int(options.get("answers", 1))

    @classmethod
    @abstractmethod
    def check_answer(cls, value: Any, options: dict[str, Any], text: str) -> Any:
        """The answer in its stored form, or AnswerError; `text` is what the annotator was shown."""

    @classmethod
    @abstractmethod
    def decide(cls, votes: list[Vote], options: dict[str, Any], model: dict[str, Any] | None) -> Outcome:
        """What the answers so far decide; `model` is the step's consensus state (label steps)."""

    @classmethod
    def gold_correct(cls, value: Any, gold: Any) -> bool:
        """Whether an answer matches a gold item's known answer."""
        return bool(value == gold)
