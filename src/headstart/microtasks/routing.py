"""A label step's model rule: a trained run labels what it is sure of, people label the rest.

```yaml
label: {kind: label, labels: [greeting, booking, complaint], answers: 2,
        model: {run: runs/intents-features, coverage: 0.9}}
```

When items reach the step (added, or chained from an earlier step), the run predicts each text's
conformal label set at `coverage` (split conformal, calibrated on the run's dev split when it
trained). A set of one label settles the item with that label, marked `settled_by: model` in its
data and in exports; any other set leaves the item to people, with the set as its `candidates`.
So the run's doubts go to annotators and its certainties cost no answer. Gold items are never
routed: they measure people.
"""

from __future__ import annotations

from collections.abc import Callable

from headstart.errors import ConfigError
from headstart.microtasks.project import Step
from headstart.microtasks.schema import Item, now

ROUTING_KEYS = ("settled_by", "candidates")  # what a rule writes in an item's data, for its step alone
# (run directory, texts, coverage) → each text's label set
LabelSets = Callable[[str, list[str], float], list[list[str]]]


def route(items: list[Item], step: Step, label_sets: LabelSets) -> list[Item]:
    """Apply the step's model rule to items entering it; returns the items the model settled."""
    rule = step.options.get("model") if step.kind == "label" else None
    entering = [item for item in items if not item.is_gold]
    if rule is None or not entering:
        return []
    sets = label_sets(rule["run"], [item.text for item in entering], rule["coverage"])
    unknown = sorted({label for labels in sets for label in labels} - set(step.options["labels"]))
    if unknown:
        raise ConfigError(
            f"Step '{step.name}': the run {rule['run']} predicts {unknown}, which are not among the "
            "step's labels; give a run trained on these labels."
        )
    settled = []
    for item, labels in zip(entering, sets, strict=True):
        if len(labels) == 1:
            item.status, item.result, item.settled_at = "settled", labels[0], now()
            item.confidence = rule["coverage"]  # the set holds the true label this often
            item.data = {**item.data, "settled_by": "model"}
            settled.append(item)
        else:
            item.data = {**item.data, "candidates": labels}
    return settled
