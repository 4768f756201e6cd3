"""`create`: write a text for a prompt, in the item's language. One answer settles the item; the
engine checks the text's language and pseudonymises personal data in it before anyone sees it."""

from __future__ import annotations

from typing import Any, ClassVar

from headstart.errors import ConfigError
from headstart.microtasks.kinds.base import MORE, AnswerError, Kind, Outcome, Vote


class Create(Kind):
    """Write a text."""

    name = "create"
    summary = "Write a text for a prompt, in a given language."
    defaults: ClassVar[dict[str, Any]] = {"min_characters": 5, "max_characters": 2000, "check_language": True}

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        """1 ≤ min_characters ≤ max_characters; check_language a boolean."""
        cls.positive(options, "min_characters", where)
        cls.positive(options, "max_characters", where)
        if options["min_characters"] > options["max_characters"]:
            raise ConfigError(f"{where}: min_characters is above max_characters.")
        if not isinstance(options["check_language"], bool):
            raise ConfigError(f"{where}: check_language is true or false.")

    @classmethod
    def check_answer(cls, value: Any, options: dict[str, Any], text: str) -> Any:
        """{"text": "..."} of min_characters to max_characters (surrounding spaces dropped)."""
        written = value.get("text") if isinstance(value, dict) and set(value) == {"text"} else None
        if not isinstance(written, str):
            raise AnswerError('Answer with {"text": "what you wrote"}.')
        written = written.strip()
        if not options["min_characters"] <= len(written) <= options["max_characters"]:
            raise AnswerError(
                f"The text has {len(written)} characters; write {options['min_characters']} to "
                f"{options['max_characters']}."
            )
        return {"text": written}

    @classmethod
    def decide(cls, votes: list[Vote], options: dict[str, Any], model: dict[str, Any] | None) -> Outcome:
        """The first answer's text (the next step validates it)."""
        return Outcome("settled", votes[0].value["text"], None) if votes else MORE
