"""`validate`: accept or reject another annotator's text, with a reason when rejecting. A text is
accepted or rejected when that side has a majority of `votes`; a tie asks one more person."""

from __future__ import annotations

from typing import Any, ClassVar

from headstart.microtasks.kinds.base import MORE, AnswerError, Kind, Outcome, Vote

MAX_REASON = 500


class Validate(Kind):
    """Accept or reject a text."""

    name = "validate"
    summary = "Accept or reject another annotator's text, with a reason."
    defaults: ClassVar[dict[str, Any]] = {"votes": 2, "max_attempts": 3}

    @classmethod
    def validate_options(cls, options: dict[str, Any], where: str) -> None:
        """votes and max_attempts are whole numbers ≥ 1."""
        cls.positive(options, "votes", where)
        cls.positive(options, "max_attempts", where)

    @classmethod
    def first_wanted(cls, options: dict[str, Any]) -> int:
        """`votes` answers."""
        return int(options["votes"])

    @classmethod
    def check_answer(cls, value: Any, options: dict[str, Any], text: str) -> Any:
        """{"accept": true} or {"accept": false, "reason": "..."}."""
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("accept"), bool)
            or set(value) - {"accept", "reason"}
        ):
            raise AnswerError('Answer with {"accept": true} or {"accept": false, "reason": "why"}.')
        reason = value.get("reason", "")
        if (
            not isinstance(reason, str)
            or len(reason) > MAX_REASON
            or (not value["accept"] and not reason.strip())
        ):
            raise AnswerError(f"A rejection needs a reason of 1 to {MAX_REASON} characters.")
        return {"accept": value["accept"], "reason": reason.strip()}

    @classmethod
    def decide(cls, votes: list[Vote], options: dict[str, Any], model: dict[str, Any] | None) -> Outcome:
        """Accepted or rejected by a majority of `votes` (weighted), else one more vote."""
        majority = options["votes"] // 2 + 1
        accepts = sum(vote.weight for vote in votes if vote.value["accept"])
        rejects = sum(vote.weight for vote in votes if not vote.value["accept"])
        share = accepts / max(accepts + rejects, 1e-9)
        if accepts >= majority and accepts > rejects:
            return Outcome("settled", True, share)
        if rejects >= majority and rejects > accepts:
            return Outcome("rejected", False, 1 - share)
        return MORE

    @classmethod
    def gold_correct(cls, value: Any, gold: Any) -> bool:
        """The same verdict as the gold one."""
        return bool(value["accept"] == gold)
