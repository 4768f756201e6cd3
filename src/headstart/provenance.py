"""Where a run came from: the headstart version and commit, the libraries it ran with, and the
machine, so a figure in metrics.json or a model card can be traced and repeated."""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from headstart.version import __version__

LIBRARIES = (  # what shapes a run's numbers; the optional ones are listed when installed
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "accelerate",
    "peft",
    "scikit-learn",
    "numpy",
    "pandas",
    "setfit",
    "sentence-transformers",
    "onnxruntime",
    "onnx",
    "crowd-kit",
    "cleanlab",
    "presidio-analyzer",
    "optuna",
    "ray",
)


def library_versions() -> dict[str, str]:
    """The installed versions of the libraries in LIBRARIES (missing ones left out)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def source_commit(start: Path | None = None) -> str | None:
    """The git commit of the headstart checkout this code runs from; None for an installed wheel.
    Read from .git directly: no git binary is needed and nothing is run."""
    here = (start or Path(__file__)).resolve()
    git = next((parent / ".git" for parent in here.parents if (parent / ".git").is_dir()), None)
    if git is None or not (git.parent / "pyproject.toml").is_file():
        return None
    head = (git / "HEAD").read_text(encoding="utf-8").strip()
    if not head.startswith("ref: "):
        return head  # a detached HEAD holds the commit itself
    ref = head.removeprefix("ref: ")
    loose = git / ref
    if loose.is_file():
        return loose.read_text(encoding="utf-8").strip()
    packed = git / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            if line.endswith(f" {ref}"):
                return line.split()[0]
    return None


def provenance(device: dict[str, Any]) -> dict[str, Any]:
    """The provenance block of metrics.json: versions, commit, Python, platform and device."""
    return {
        "headstart": __version__,
        "commit": source_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(),
        "device": device,
    }
