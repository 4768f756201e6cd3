"""headstart: transfer learning for text classification, from a labelled file to a served model."""

from headstart.api import train
from headstart.compression.derived import distill, prune
from headstart.compression.quantize import quantize
from headstart.grid import compare
from headstart.config import TrainConfig
from headstart.ensembles import ensemble
from headstart.errors import ConfigError, DataError, DataWarning, HeadstartError, ModelError, RunError
from headstart.models.zoo import list_models
from headstart.run import Run, load_run

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataError", "DataWarning", "HeadstartError", "ModelError", "Run", "RunError",
           "TrainConfig", "compare", "distill", "ensemble", "list_models", "load_run", "prune", "quantize", "train"]
