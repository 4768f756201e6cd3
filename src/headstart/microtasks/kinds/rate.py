"""`rate`: give a number on a scale. The item's result is the weighted mean of `answers` answers;
its confidence falls with their spread."""

from __future__ import annotations

from typing import Any, ClassVar

from headstart.errors import ConfigError
from headstart.microtasks.kinds.base import MORE, AnswerError, Kind, Outcome, Vote


class Rate(Kind):
    """Rate a text."""

    name = "rate"
    summary = "Give a number on a scale (e.g. 1 to 5)."
    defaults: ClassVar[dict[str, Any]] = {"low": 1, "high": 5, "answers": 3}

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        """low < high, both numbers; answers ≥ 1."""
        low, high = options["low"], options["high"]
        if (
            not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (low, high))
            or low >= high
        ):
            raise ConfigError(f"{where}: low and high must be numbers with low < high.")
        cls.positive(options, "answers", where)

    @classmethod
    def check_answer(cls, value: Any, options: dict[str, Any], text: str) -> Any:
        """A number from low to high."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not options["low"] <= value <= options["high"]
        ):
            raise AnswerError(f"Answer with a number from {options['low']} to {options['high']}.")
        return float(value)

    @classmethod
    def decide(cls, votes: list[Vote], options: dict[str, Any], model: dict[str, Any] | None) -> Outcome:
        """The weighted mean once `answers` are in; confidence 1 − spread / half the scale."""
        if len(votes) < options["answers"]:
            return MORE
        total = sum(vote.weight for vote in votes) or 1.0
        mean = sum(vote.weight * vote.value for vote in votes) / total
        spread = (sum(vote.weight * (vote.value - mean) ** 2 for vote in votes) / total) ** 0.5
        return Outcome("settled", mean, max(0.0, 1 - spread / ((options["high"] - options["low"]) / 2)))

    @classmethod
    def gold_correct(cls, value: Any, gold: Any) -> bool:
        """Within half a point of the gold rating."""
        return abs(float(value) - float(gold)) <= 0.5
