"""A project file (YAML): its languages, its steps (each of a task kind, with the kind's options),
how steps chain, gold items and quality thresholds. Checked when loaded: every problem is one
line naming the file, the step and the fix.

```yaml
name: intents
languages: [en, fr]
gold_rate: 0.1               # share of label tasks that are gold items, when there are some
quality: {min_gold_answers: 5, min_gold_accuracy: 0.6, too_fast_seconds: 2}
erasure: anonymise           # or delete: what erasing an annotator does to their answers
steps:
  write: {kind: create, next: check}
  check: {kind: validate, votes: 2, next: label, redo: write}
  label: {kind: label, labels: [greeting, booking, complaint], answers: 3, max_answers: 7, confidence: 0.9}
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from headstart.errors import ConfigError
from headstart.microtasks.kinds import KINDS

ERASURE = ("anonymise", "delete")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class Quality:
    """When an annotator is paused, and when an answer is too fast to trust."""

    min_gold_answers: int = 5  # gold answers before an annotator can be paused
    min_gold_accuracy: float = 0.6
    too_fast_seconds: float = 1.0


@dataclass(frozen=True)
class Step:
    """One step: its kind, the kind's options (checked by the kind), where it leads."""

    name: str
    kind: str
    options: dict[str, Any]
    next: str | None = None  # where a settled (or accepted) item goes on
    redo: str | None = None  # validate: the step whose item is done again when its text is rejected


@dataclass(frozen=True)
class ProjectSpec:
    """A checked project file."""

    name: str
    languages: list[str]
    steps: dict[str, Step]
    gold_rate: float = 0.0
    quality: Quality = field(default_factory=Quality)
    erasure: str = "anonymise"
    assignment_seconds: int = 600  # an unanswered task goes to someone else after this

    def step(self, name: str) -> Step:
        """The step called `name`; a ConfigError names the steps there are."""
        if name not in self.steps:
            raise ConfigError(
                f"Project '{self.name}' has no step '{name[:100]}'; its steps: {sorted(self.steps)}."
            )
        return self.steps[name]

    def to_dict(self) -> dict[str, Any]:
        """The spec as the project table stores it (what `from_dict` reads)."""
        return {
            "name": self.name,
            "languages": self.languages,
            "gold_rate": self.gold_rate,
            "quality": vars(self.quality),
            "erasure": self.erasure,
            "assignment_seconds": self.assignment_seconds,
            "steps": {
                step.name: {"kind": step.kind, "next": step.next, "redo": step.redo, **step.options}
                for step in self.steps.values()
            },
        }


def load_project(path: str | Path) -> ProjectSpec:
    """Read and check a project file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Project file '{path}' does not exist; write one (see `headstart tasks --help`).")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"Project file '{path}' is not valid YAML{where}; fix its syntax.") from None
    return from_dict(raw, f"Project file '{path}'")


def from_dict(raw: Any, where: str = "The project") -> ProjectSpec:
    """Check a project given as a dict (a parsed file, or the project table's copy)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping with name, languages and steps.")
    unknown = sorted(
        set(raw) - {"name", "languages", "steps", "gold_rate", "quality", "erasure", "assignment_seconds"}
    )
    if unknown:
        raise ConfigError(f"{where} has unknown key(s) {unknown}; remove them.")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: name must be letters, digits, '.', '_' or '-' (at most 100); got {name!r}."
        )
    languages = raw.get("languages")
    if (
        not isinstance(languages, list)
        or not languages
        or not all(isinstance(x, str) and x for x in languages)
    ):
        raise ConfigError(f"{where}: languages must be a non-empty list of codes, e.g. [en, fr].")
    steps = _steps(raw.get("steps"), where)
    gold_rate = _number(raw.get("gold_rate", 0.0), 0.0, 1.0, f"{where}: gold_rate")
    erasure = raw.get("erasure", "anonymise")
    if erasure not in ERASURE:
        raise ConfigError(f"{where}: erasure must be one of {', '.join(ERASURE)}; got {erasure!r}.")
    seconds = int(_number(raw.get("assignment_seconds", 600), 10, 86_400, f"{where}: assignment_seconds"))
    return ProjectSpec(
        name, list(languages), steps, gold_rate, _quality(raw.get("quality", {}), where), erasure, seconds
    )


def _steps(raw: Any, where: str) -> dict[str, Step]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: steps must map step names to their kind and options.")
    steps = {}
    for name, options in raw.items():
        if not isinstance(options, dict) or "kind" not in options:
            raise ConfigError(f"{where}: step '{name}' needs a kind ({', '.join(sorted(KINDS))}).")
        options = dict(options)
        kind = options.pop("kind")
        if kind not in KINDS:
            raise ConfigError(
                f"{where}: step '{name}' has kind {kind!r}; kinds are {', '.join(sorted(KINDS))}."
            )
        next_step, redo = options.pop("next", None), options.pop("redo", None)
        checked = KINDS[kind].check_options(options, f"{where}: step '{name}'")
        steps[str(name)] = Step(str(name), kind, checked, next_step, redo)
    for step in steps.values():
        for link, target in (("next", step.next), ("redo", step.redo)):
            if target is not None and target not in steps:
                raise ConfigError(f"{where}: step '{step.name}' has {link}: {target!r}, which is not a step.")
        if step.kind == "create" and step.next is None:
            raise ConfigError(f"{where}: step '{step.name}' (create) needs next: the step its texts go to.")
        if step.redo is not None and (step.kind != "validate" or steps[step.redo].kind != "create"):
            raise ConfigError(
                f"{where}: redo belongs to a validate step and names a create step ('{step.name}')."
            )
    _check_acyclic(steps, where)
    return steps


def _check_acyclic(steps: dict[str, Step], where: str) -> None:
    """`next` links may not loop (a `redo` goes back on purpose, once per rejected text)."""
    for start in steps:
        seen, current = {start}, steps[start].next
        while current is not None:
            if current in seen:
                raise ConfigError(
                    f"{where}: the next links loop through step '{current}'; use redo to go back."
                )
            seen.add(current)
            current = steps[current].next


def _quality(raw: Any, where: str) -> Quality:
    if not isinstance(raw, dict) or set(raw) - {"min_gold_answers", "min_gold_accuracy", "too_fast_seconds"}:
        raise ConfigError(f"{where}: quality takes min_gold_answers, min_gold_accuracy and too_fast_seconds.")
    defaults = Quality()
    return Quality(
        int(
            _number(
                raw.get("min_gold_answers", defaults.min_gold_answers), 1, 1000, f"{where}: min_gold_answers"
            )
        ),
        _number(
            raw.get("min_gold_accuracy", defaults.min_gold_accuracy), 0.0, 1.0, f"{where}: min_gold_accuracy"
        ),
        _number(
            raw.get("too_fast_seconds", defaults.too_fast_seconds), 0.0, 3600.0, f"{where}: too_fast_seconds"
        ),
    )


def _number(value: Any, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{what} must be a number from {low:g} to {high:g}; got {value!r}.")
    return float(value)
