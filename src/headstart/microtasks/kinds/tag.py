"""`tag`: mark spans of a text with entity types (for NER). After `answers` answers, the spans
that more than half of the annotators marked (same start, end and type) are the result."""

from __future__ import annotations

from typing import Any, ClassVar

from headstart.errors import ConfigError
from headstart.microtasks.kinds.base import MORE, AnswerError, Kind, Outcome, Vote


class Tag(Kind):
    """Mark spans."""

    name = "tag"
    summary = "Mark spans of a text with entity types (named entities)."
    defaults: ClassVar[dict[str, Any]] = {"tags": None, "answers": 2}

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        """tags: a list of one or more distinct types; answers ≥ 1."""
        tags = options["tags"]
        if not isinstance(tags, list) or not tags or len(set(tags)) != len(tags):
            raise ConfigError(
                f"{where}: tags must list one or more distinct entity types, e.g. [person, place]."
            )
        options["tags"] = [str(tag) for tag in tags]
        cls.positive(options, "answers", where)

    @classmethod
    def check_answer(cls, value: Any, options: dict[str, Any], text: str) -> Any:
        """A list of {"start", "end", "tag"} within the text, not overlapping (possibly empty)."""
        if not isinstance(value, list):
            raise AnswerError('Answer with a list of spans: [{"start": 0, "end": 5, "tag": "person"}, ...].')
        spans = []
        for span in value:
            if not isinstance(span, dict) or set(span) != {"start", "end", "tag"}:
                raise AnswerError('Each span is {"start": int, "end": int, "tag": "..."}.')
            start, end, tag = span["start"], span["end"], span["tag"]
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
                raise AnswerError(
                    f"A span's start and end must lie within the text's {len(text)} characters."
                )
            if tag not in options["tags"]:
                raise AnswerError(f"Tag {tag!r} is not one of {options['tags']}.")
            spans.append((start, end, tag))
        spans.sort()
        if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
            raise AnswerError("Spans may not overlap.")
        return [{"start": s, "end": e, "tag": t} for s, e, t in spans]

    @classmethod
    def decide(cls, votes: list[Vote], options: dict[str, Any], model: dict[str, Any] | None) -> Outcome:
        """The spans more than half of the (weighted) annotators marked."""
        if len(votes) < options["answers"]:
            return MORE
        total = sum(vote.weight for vote in votes) or 1.0
        marked: dict[tuple[int, int, str], float] = {}
        for vote in votes:
            for span in vote.value:
                key = (span["start"], span["end"], span["tag"])
                marked[key] = marked.get(key, 0.0) + vote.weight
        kept = sorted(key for key, weight in marked.items() if weight / total > 0.5)
        agreement = min((max(w, total - w) / total for w in marked.values()), default=1.0)
        return Outcome("settled", [{"start": s, "end": e, "tag": t} for s, e, t in kept], agreement)

    @classmethod
    def gold_correct(cls, value: Any, gold: Any) -> bool:
        """The same spans as the gold ones."""
        key = lambda spans: sorted((s["start"], s["end"], s["tag"]) for s in spans)  # noqa: E731
        return key(value) == key(gold)
