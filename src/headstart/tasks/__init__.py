"""What a model predicts for a text: one class, any set of labels, a number, or a tag per word.

A task is detected from the labels (or set with --task) and saved with the run as task.json,
with what it learnt besides the weights: per-label decision thresholds (multi-label) or the
target scale (regression).
"""

from __future__ import annotations

from typing import Any

from headstart.errors import ConfigError
from headstart.tasks.base import Task
from headstart.tasks.classification import Classification, MultiLabel
from headstart.tasks.ner import NamedEntities
from headstart.tasks.regression import Regression

TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (Classification, MultiLabel, Regression, NamedEntities)
}


def task_from_dict(values: dict[str, Any]) -> Task:
    """The task saved in a run's task.json."""
    values = dict(values)
    name = values.pop("name")
    if name not in TASKS:
        raise ConfigError(f"Task '{name}' is unknown to this headstart version; upgrade headstart.")
    return TASKS[name](**values)


__all__ = ["TASKS", "Classification", "MultiLabel", "NamedEntities", "Regression", "Task", "task_from_dict"]
