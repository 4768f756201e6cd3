from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headstart.config import TrainConfig
from headstart.errors import ConfigError


@given(
    epochs=st.integers(1, 100),
    lr=st.floats(1e-7, 1.0),
    seed=st.integers(0, 2**31),
    options=st.dictionaries(st.text(min_size=1), st.integers()),
)
def test_config_round_trips_through_dict(epochs: int, lr: float, seed: int, options: dict) -> None:
    config = TrainConfig(dataset="bbc-news", epochs=epochs, lr=lr, seed=seed, strategy_options=options)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_config_round_trips_through_yaml(tmp_path: Path) -> None:
    config = TrainConfig(
        data="x.csv", max_length=128, strategy="features", strategy_options={"c_values": [1.0]}
    )
    config.save_yaml(tmp_path / "c.yaml")
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == config


def test_defaults_are_not_shared_between_instances() -> None:
    first = TrainConfig(dataset="bbc-news")
    first.strategy_options["x"] = 1
    assert TrainConfig(dataset="bbc-news").strategy_options == {}


@pytest.mark.parametrize(
    "field,value",
    [
        ("batch_size", 0),
        ("warmup_ratio", 1.0),
        ("mixed_precision", "fp8"),
        ("max_length", 4),
        ("patience", -1),
    ],
)
def test_invalid_values_are_refused_with_the_option_name(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"'{field}'"):
        TrainConfig(dataset="bbc-news", **{field: value})


def test_atomic_writes_get_the_usual_file_permissions(tmp_path) -> None:
    import os

    from headstart.config import write_text_atomic

    write_text_atomic(tmp_path / "a.txt", "x")
    (tmp_path / "b.txt").write_text("x")
    assert os.stat(tmp_path / "a.txt").st_mode == os.stat(tmp_path / "b.txt").st_mode


def test_class_weights_default_to_on_for_imbalanced_single_label_classes() -> None:
    config = TrainConfig(dataset="bbc-news")
    zh_inews = ["neutral"] * 179 + ["negative"] * 143 + ["positive"] * 38  # its labelled rows: 4.7×
    bbc_news = ["sports"] * 95 + ["business"] * 95 + ["politics"] * 76 + ["tech"] * 65  # 1.46×
    assert config.weighs_classes("classification", zh_inews)
    assert not config.weighs_classes("classification", bbc_news)
    assert not config.weighs_classes("regression", [0.1] * 9 + [0.2])
    assert not config.replace(soft_labels=True).weighs_classes("classification", zh_inews)  # no counts
    assert config.replace(class_weights=True).weighs_classes("classification", bbc_news)  # given wins
    assert not config.replace(class_weights=False).weighs_classes("classification", zh_inews)
