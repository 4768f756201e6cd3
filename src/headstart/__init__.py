"""headstart: transfer learning for text classification, from a labelled file to a served model.

The public API is imported on first use (PEP 562), so `import headstart` and the CLI's `--help`
do not pay for torch and transformers until a function that needs them is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from headstart.config import TrainConfig
from headstart.errors import ConfigError, DataError, DataWarning, HeadstartError, ModelError, RunError

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and editors
    from headstart.api import train
    from headstart.models.zoo import list_models
    from headstart.runs import Run, load_run
    from headstart.workflows.compare import compare
    from headstart.workflows.compress import distill, prune, quantize
    from headstart.workflows.curves import learning_curve
    from headstart.workflows.ensembles import ensemble
    from headstart.workflows.tune import tune

__version__ = "0.1.0"

_LAZY = {
    "train": "headstart.api",
    "Run": "headstart.runs",
    "load_run": "headstart.runs",
    "list_models": "headstart.models.zoo",
    "compare": "headstart.workflows.compare",
    "tune": "headstart.workflows.tune",
    "learning_curve": "headstart.workflows.curves",
    "ensemble": "headstart.workflows.ensembles",
    "distill": "headstart.workflows.compress",
    "prune": "headstart.workflows.compress",
    "quantize": "headstart.workflows.compress",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'headstart' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


__all__ = [
    "ConfigError",
    "DataError",
    "DataWarning",
    "HeadstartError",
    "ModelError",
    "Run",
    "RunError",
    "TrainConfig",
    "compare",
    "distill",
    "ensemble",
    "learning_curve",
    "list_models",
    "load_run",
    "prune",
    "quantize",
    "train",
    "tune",
]
