"""`label`: choose a class (or several, with `multiple: true`) for a text. A single-label item is
settled when Dawid–Skene's posterior for one label reaches `confidence` after at least `answers`
answers, or at `max_answers` whatever it says; several labels are settled by majority per label."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from headstart.errors import ConfigError
from headstart.microtasks.kinds.base import MORE, AnswerError, Kind, Outcome, Vote

# Annotators the last Dawid–Skene fit did not see count as right this often; no likelihood is 0,
# so one odd answer never makes a label impossible.
DEFAULT_ACCURACY = 0.7
FLOOR = 1e-4


def posterior(votes: list[Vote], labels: list[str], model: dict[str, Any] | None) -> dict[str, float]:
    """P(true label | the item's answers): prior × Π P(answer | true label)^weight, normalised."""
    priors = (model or {}).get("priors") or {label: 1 / len(labels) for label in labels}
    confusion = (model or {}).get("confusion", {})
    scores = {label: math.log(max(priors.get(label, FLOOR), FLOOR)) for label in labels}
    for vote in votes:
        matrix = confusion.get(vote.annotator) if vote.annotator is not None else None
        for truth in labels:
            scores[truth] += vote.weight * math.log(_likelihood(matrix, vote.value, truth, len(labels)))
    top = max(scores.values())
    weights = {label: math.exp(score - top) for label, score in scores.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


def _likelihood(matrix: dict[str, dict[str, float]] | None, observed: str, truth: str, classes: int) -> float:
    if matrix is not None and observed in matrix:
        return max(matrix[observed].get(truth, FLOOR), FLOOR)
    if observed == truth:
        return DEFAULT_ACCURACY
    return (1 - DEFAULT_ACCURACY) / max(classes - 1, 1)


class Label(Kind):
    """Choose the text's class."""

    name = "label"
    summary = "Choose a class (or several) for a text."
    defaults: ClassVar[dict[str, Any]] = {
        "labels": None,
        "multiple": False,
        "answers": 3,
        "max_answers": None,  # default: answers (a fixed redundancy)
        "confidence": 0.0,  # 0: settle at `answers`, whatever the posterior
        "model": None,  # {run, coverage}: a run settles what it is sure of (see microtasks.routing)
    }

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        """Labels are a list of two or more distinct names; answers ≤ max_answers; 0 ≤ confidence < 1."""
        labels = options["labels"]
        if not isinstance(labels, list) or len(labels) < 2 or len(set(map(str, labels))) != len(labels):
            raise ConfigError(f"{where}: labels must list two or more distinct classes.")
        options["labels"] = [str(label) for label in labels]
        cls.positive(options, "answers", where)
        options["max_answers"] = options["max_answers"] or options["answers"]
        cls.positive(options, "max_answers", where)
        if options["max_answers"] < options["answers"]:
            raise ConfigError(
                f"{where}: max_answers ({options['max_answers']}) is below answers ({options['answers']})."
            )
        if not isinstance(options["confidence"], int | float) or not 0 <= options["confidence"] < 1:
            raise ConfigError(
                f"{where}: confidence must be at least 0 and below 1; got {options['confidence']!r}."
            )
        if options["model"] is not None:
            options["model"] = cls._model_rule(options["model"], options["multiple"], where)

    @staticmethod
    def _model_rule(rule: Any, multiple: bool, where: str) -> dict[str, Any]:
        """{run: a run directory, coverage: 0 < c < 1 (default 0.9)}, for one label per text."""
        if (
            not isinstance(rule, dict)
            or not isinstance(rule.get("run"), str)
            or set(rule) - {"run", "coverage"}
        ):
            raise ConfigError(f"{where}: model is {{run: RUN_DIRECTORY, coverage: 0.9}}.")
        coverage = rule.get("coverage", 0.9)
        if isinstance(coverage, bool) or not isinstance(coverage, int | float) or not 0 < coverage < 1:
            raise ConfigError(f"{where}: model coverage must be above 0 and below 1; got {coverage!r}.")
        if multiple:
            raise ConfigError(f"{where}: a model rule needs one label per text (multiple: false).")
        return {"run": rule["run"], "coverage": float(coverage)}

    @classmethod
    def check_answer(cls, value: Any, options: dict[str, Any], text: str) -> Any:
        """One of the labels (a list of them with `multiple`)."""
        labels = options["labels"]
        if options["multiple"]:
            if (
                not isinstance(value, list)
                or not all(v in labels for v in value)
                or len(set(value)) != len(value)
            ):
                raise AnswerError(f"Answer with a list of distinct labels from {labels}.")
            return sorted(value, key=labels.index)
        if value not in labels:
            raise AnswerError(f"Answer with one of the labels {labels}.")
        return value

    @classmethod
    def decide(cls, votes: list[Vote], options: dict[str, Any], model: dict[str, Any] | None) -> Outcome:
        """Settled when confident enough (see the module), else more answers."""
        if len(votes) < options["answers"]:
            return MORE
        if options["multiple"]:
            total = sum(vote.weight for vote in votes) or 1.0
            shares = {
                label: sum(v.weight for v in votes if label in v.value) / total for label in options["labels"]
            }
            chosen = [label for label, share in shares.items() if share > 0.5]
            return Outcome("settled", chosen, min((max(s, 1 - s) for s in shares.values()), default=1.0))
        probabilities = posterior(votes, options["labels"], model)
        best = max(probabilities, key=lambda label: probabilities[label])
        if probabilities[best] >= options["confidence"] or len(votes) >= options["max_answers"]:
            return Outcome("settled", best, probabilities[best])
        return MORE

    @classmethod
    def gold_correct(cls, value: Any, gold: Any) -> bool:
        """Matches the gold label (the same set of labels with `multiple`)."""
        return set(value) == set(gold) if isinstance(value, list) else bool(value == gold)
