"""Model zoo resolution and safety, strategy registry, the features head and its cache."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from headstart.errors import ConfigError, ModelError
from headstart.models.zoo import cache_dir, list_models, resolve_model
from headstart.strategies import STRATEGIES, Strategy, make_strategy, register_strategy
from headstart.strategies.features import FeaturesConfig, cached_embeddings, linear_head


def test_packaged_minilm_is_listed_with_its_facts() -> None:
    minilm = next(m for m in list_models() if m.name == "minilm-l6")
    assert minilm.source == "package" and minilm.parameters == 22_713_728
    assert (minilm.layers, minilm.hidden, minilm.max_length) == (6, 384, 256)


def test_hub_id_of_a_packaged_model_resolves_offline(minilm_dir: Path) -> None:
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == minilm_dir


def test_uncached_hub_id_fails_fast_offline() -> None:
    started = time.perf_counter()
    with pytest.raises(ModelError, match="not in the local cache"):
        resolve_model("someone/uncached-model")
    assert time.perf_counter() - started < 5


def test_cached_hub_model_is_found_and_listed_offline(
    tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/files}.
    repo = tmp_path / "hub" / "models--acme--tiny-bert"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    for file in Path(tiny_model).iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_model("acme/tiny-bert") == snapshot
    assert "acme/tiny-bert" in {m.name for m in list_models()}


def test_pickled_weights_need_explicit_consent(tiny_model: str, tmp_path: Path) -> None:
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text((Path(tiny_model) / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match="--allow-pickle"):
        resolve_model(str(folder))
    assert resolve_model(str(folder), allow_pickle=True) == folder


def test_registry_refuses_duplicates_and_unknown_names() -> None:
    assert {"finetune", "features"} <= set(STRATEGIES)
    with pytest.raises(ValueError, match="already registered"):
        register_strategy(
            type("Again", (Strategy,), {"name": "finetune", "summary": "x", "fit": lambda self, job: None})
        )
    with pytest.raises(ConfigError, match="Unknown strategy"):
        make_strategy("nope")


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_config_round_trips(name: str) -> None:
    strategy = make_strategy(name)
    assert type(strategy.config).from_dict(strategy.config.to_dict(), name) == strategy.config
    assert strategy.summary and len(strategy.summary.splitlines()) == 1


@pytest.mark.parametrize("classes", [2, 4])
def test_linear_head_reproduces_scaled_logistic_regression(classes: int) -> None:
    import torch

    from headstart.strategies.features import Features

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(200, 6))
    y = rng.integers(0, classes, size=200)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, max_iter=3000, random_state=0).fit(scaler.transform(x), y)
    coef, intercept = Features().fit_linear(scaler.transform(x), list(y), "classification", 1.0, False, 0)
    logits = linear_head(coef, intercept, scaler)(torch.tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(
        torch.softmax(logits, -1).detach().numpy(), model.predict_proba(scaler.transform(x)), atol=1e-4
    )


def test_linear_heads_for_label_sets_and_numbers() -> None:
    import torch
    from sklearn.linear_model import Ridge

    from headstart.strategies.features import Features

    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, size=(300, 5))
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    hot = np.stack([x[:, 0] > 0, x[:, 1] > 0.5, np.ones(300, dtype=bool)], axis=1).astype(
        float
    )  # third label always on
    coef, intercept = Features().fit_linear(z, hot.tolist(), "multi-label", 1.0, False, 0)
    probabilities = (
        torch.sigmoid(linear_head(coef, intercept, scaler)(torch.tensor(x, dtype=torch.float32)))
        .detach()
        .numpy()
    )
    for column in range(2):
        single = LogisticRegression(C=1.0, max_iter=3000, random_state=0).fit(z, hot[:, column])
        np.testing.assert_allclose(probabilities[:, column], single.predict_proba(z)[:, 1], atol=1e-4)
    assert (probabilities[:, 2] > 0.99).all()

    values = x @ np.array([1.0, -2.0, 0.5, 0.0, 0.0]) + rng.normal(0, 0.1, 300)
    coef, intercept = Features().fit_linear(z, values.tolist(), "regression", 10.0, False, 0)
    predicted = (
        linear_head(coef, intercept, scaler)(torch.tensor(x, dtype=torch.float32)).detach().numpy()[:, 0]
    )
    np.testing.assert_allclose(predicted, Ridge(alpha=0.1).fit(z, values).predict(z), atol=1e-4)


def test_embeddings_are_computed_once_per_model_and_data(tiny_model: str) -> None:
    from headstart.encoding import Encoded
    from headstart.models.classifiers import load_encoder

    encoder = load_encoder(Path(tiny_model))
    calls = []
    original_forward = encoder.forward
    encoder.forward = lambda *a, **k: calls.append(1) or original_forward(*a, **k)
    data = Encoded([[101, 2000, 102], [101, 2001, 2002, 102]])
    first = cached_embeddings(encoder, data, "model-a", 0, 8, "train", cache=cache_dir("features"))
    assert len(calls) == 1 and len(list(cache_dir("features").rglob("*.safetensors"))) >= 1
    again = cached_embeddings(encoder, data, "model-a", 0, 8, "train", cache=cache_dir("features"))
    assert len(calls) == 1 and torch_equal(first, again)
    cached_embeddings(encoder, data, "model-b", 0, 8, "train", cache=cache_dir("features"))
    cached_embeddings(
        encoder, Encoded([[101, 2003, 102]]), "model-a", 0, 8, "train", cache=cache_dir("features")
    )
    assert len(calls) == 3


def test_a_set_embeds_only_the_rows_no_cached_set_holds(tiny_model: str) -> None:
    """The refit's train + dev, compare's seeds and learning-curve's sizes are new sets of rows
    already embedded: each row is taken from the set that cached it, in the new set's order."""
    from functools import partial

    import torch

    from headstart.encoding import Encoded, forward_in_batches
    from headstart.models.classifiers import load_encoder
    from headstart.models.embeddings import embed

    encoder = load_encoder(Path(tiny_model))
    embedded: list[list[list[int]]] = []  # the rows of each forward call
    original_forward = encoder.forward
    encoder.forward = lambda **k: embedded.append(k["input_ids"].tolist()) or original_forward(**k)
    texts = [[101, 2000 + i, *[1996] * (i % 5), 102] for i in range(12)]

    def embeddings(rows: list[int]) -> torch.Tensor:
        data = Encoded([texts[i] for i in rows])
        return cached_embeddings(encoder, data, "model-a", 0, 4, "x", cache=cache_dir("features"))

    train, dev = embeddings(list(range(8))), embeddings([8, 9])
    calls = len(embedded)
    joined = embeddings([9, 3, 8, 0, 3])  # train + dev in another order, one text twice
    assert len(embedded) == calls, "every row of train + dev was cached"
    assert torch_equal(joined, torch.cat([dev[1:], train[3:4], dev[:1], train[0:1], train[3:4]]))
    grown = embeddings([10, 1, 11, 10])
    assert sorted(row[1] for call in embedded[calls:] for row in call) == [2010, 2011]  # new rows, once
    fresh = forward_in_batches(partial(embed, encoder), Encoded([texts[i] for i in (10, 1, 11, 10)]), 4, 0)
    np.testing.assert_allclose(grown, fresh, atol=1e-6)


def test_data_from_memory_keeps_its_rows_in_the_process_within_a_bound(
    tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a cache folder (data given from memory) rows are reused within this process and
    nothing is written; past the bound, the rows used longest ago go."""
    import torch

    from headstart.encoding import Encoded
    from headstart.models.classifiers import load_encoder
    from headstart.strategies import features

    rows = features.ProcessRows(limit=3 * 32 * 4)  # three rows of the tiny BERT's 32 floats
    monkeypatch.setattr(features, "PROCESS_ROWS", rows)
    encoder = load_encoder(Path(tiny_model))
    embedded: list[int] = []
    original_forward = encoder.forward
    encoder.forward = lambda **k: embedded.append(len(k["input_ids"])) or original_forward(**k)
    texts = [[101, 3000 + i, 102] for i in range(5)]
    written = sorted(cache_dir("features").rglob("*"))

    def embeddings(*picked: int) -> torch.Tensor:
        return cached_embeddings(encoder, Encoded([texts[i] for i in picked]), "model-a", 0, 8, "x")

    first = embeddings(0, 1)
    assert torch_equal(embeddings(1, 0), first.flip(0)) and embedded == [2]
    embeddings(2, 3)  # four rows: 0, the one used longest ago, goes
    assert len(rows.rows) == 3 and rows.size <= rows.limit
    embeddings(0, 1, 3)
    assert embedded == [2, 2, 1]
    assert sorted(cache_dir("features").rglob("*")) == written


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_features_options_validate() -> None:
    assert FeaturesConfig.from_dict({"c_values": [1.0]}, "features").c_values == [1.0]
    with pytest.raises(ConfigError, match="has no option"):
        FeaturesConfig.from_dict({"C": 1}, "features")


def test_saved_classifier_kind_is_checked(tmp_path: Path) -> None:
    from headstart.errors import RunError
    from headstart.models.saved import load_classifier

    (tmp_path / "classifier.json").write_text(json.dumps({"kind": "quantum"}))
    save_file({}, str(tmp_path / "head.safetensors"))
    with pytest.raises(RunError, match="unknown to this headstart version"):
        load_classifier(tmp_path)


@pytest.mark.parametrize("rate", [0.0, 0.3, None])
def test_attention_dropout_is_the_runs_while_the_saved_config_keeps_the_encoders(
    tiny_model: str, tmp_path: Path, rate: float | None
) -> None:
    from headstart.models.classifiers import SequenceClassifier
    from headstart.tasks import Classification

    encoder_rate = json.loads((Path(tiny_model) / "config.json").read_text())["attention_probs_dropout_prob"]
    classifier = SequenceClassifier.from_encoder(
        Path(tiny_model), Classification(["a", "b"]), attention_dropout=rate
    )
    attention = [
        m.dropout.p for name, m in classifier.model.named_modules() if name.endswith("attention.self")
    ]
    assert attention and set(attention) == {encoder_rate if rate is None else rate}
    classifier.save(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["attention_probs_dropout_prob"] == encoder_rate
