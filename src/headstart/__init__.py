"""headstart: transfer learning for text classification, from a labelled file to a served model.

The public API is imported on first use (PEP 562), so `import headstart` and the CLI's `--help`
do not pay for torch and transformers until a function that needs them is called.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# Nothing leaves the machine unless the user asks: no usage reports from the Hub client or Ray
# (set before either is imported; a user's own setting wins).
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from headstart.config import TrainConfig
from headstart.errors import ConfigError, DataError, DataWarning, HeadstartError, ModelError, RunError
from headstart.version import __version__

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and editors
    from headstart.api import train
    from headstart.data.bundled import load_bundled as load_dataset
    from headstart.models.zoo import list_models
    from headstart.runs import Run, load_run
    from headstart.workflows.compare import compare
    from headstart.workflows.compress import distill, prune, quantize
    from headstart.workflows.consensus import aggregate_labels
    from headstart.workflows.curves import learning_curve
    from headstart.workflows.embedding_map import embedding_map
    from headstart.workflows.ensembles import ensemble
    from headstart.workflows.predict_many import predict_many
    from headstart.workflows.tune import tune


_LAZY: dict[str, tuple[str, str]] = {  # public name → (module, its name there)
    "train": ("headstart.api", "train"),
    "Run": ("headstart.runs", "Run"),
    "load_run": ("headstart.runs", "load_run"),
    "list_models": ("headstart.models.zoo", "list_models"),
    "load_dataset": ("headstart.data.bundled", "load_bundled"),
    "compare": ("headstart.workflows.compare", "compare"),
    "tune": ("headstart.workflows.tune", "tune"),
    "learning_curve": ("headstart.workflows.curves", "learning_curve"),
    "embedding_map": ("headstart.workflows.embedding_map", "embedding_map"),
    "ensemble": ("headstart.workflows.ensembles", "ensemble"),
    "distill": ("headstart.workflows.compress", "distill"),
    "prune": ("headstart.workflows.compress", "prune"),
    "quantize": ("headstart.workflows.compress", "quantize"),
    "predict_many": ("headstart.workflows.predict_many", "predict_many"),
    "aggregate_labels": ("headstart.workflows.consensus", "aggregate_labels"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'headstart' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


__all__ = [
    "__version__",
    "ConfigError",
    "DataError",
    "DataWarning",
    "HeadstartError",
    "ModelError",
    "Run",
    "RunError",
    "TrainConfig",
    "aggregate_labels",
    "compare",
    "distill",
    "embedding_map",
    "ensemble",
    "learning_curve",
    "list_models",
    "load_dataset",
    "load_run",
    "predict_many",
    "prune",
    "quantize",
    "train",
    "tune",
]
