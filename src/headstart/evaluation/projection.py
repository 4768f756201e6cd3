"""Vectors → points on a plane, for maps of a run's data: UMAP (umap-learn, McInnes et al. 2018)
when it is installed, else PCA (scikit-learn). Both are seeded, so a map redrawn is the same map."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
from sklearn.decomposition import PCA

from headstart.errors import ConfigError
from headstart.extras import optional

METHODS = ("auto", "umap", "pca")
# UMAP reads neighbourhoods more reliably on a few dozen principal components than on hundreds
# of raw, noisy dimensions (the umap-learn docs advise the same), and it runs faster.
UMAP_INPUT_DIMENSIONS = 50
NEIGHBOURS = 15


def resolve_method(method: str) -> str:
    """`auto` → umap when umap-learn is installed, else pca."""
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}; got '{method}'.")
    if method != "auto":
        return method
    return "umap" if importlib.util.find_spec("umap") is not None else "pca"


def project(vectors: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """(points, the method used): one (x, y) per row of `vectors`."""
    method = resolve_method(method)
    if len(vectors) < 3:
        raise ConfigError(f"A map needs at least 3 texts; got {len(vectors)}.")
    vectors = np.asarray(vectors, dtype=np.float32)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(vectors), method
    with optional("headstart map --method umap"):
        from umap import UMAP
    components = min(UMAP_INPUT_DIMENSIONS, *vectors.shape)
    if vectors.shape[1] > components:
        vectors = PCA(n_components=components, random_state=seed).fit_transform(vectors)
    # Spectral initialisation needs more points than neighbours; a seed makes UMAP one-threaded.
    init = "spectral" if len(vectors) > 2 * NEIGHBOURS else "random"
    reducer = UMAP(n_neighbors=min(NEIGHBOURS, len(vectors) - 1), init=init, random_state=seed, n_jobs=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "n_jobs value", UserWarning)
        points: np.ndarray = reducer.fit_transform(vectors)
    return points, method
