"""Domain-adaptive pretraining: masked-LM on in-domain text, then another strategy on the result."""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file
from tests.test_strategy_mechanisms import TINY

import headstart


def test_dapt_lowers_in_domain_mlm_loss_and_the_next_strategy_uses_the_adapted_encoder(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    run = headstart.train(
        toy_csv,
        out=tmp_path / "dapt",
        model=tiny_model,
        strategy="dapt",
        strategy_options={"then": "features", "epochs": 6, "lr": 3e-3},
        **TINY,
    )
    adaptation = run.metrics["training"]["dapt"]
    assert adaptation["held_out_mlm_loss_after"] < adaptation["held_out_mlm_loss_before"] - 1.0, adaptation
    # `features` never changes the encoder, so a changed encoder in the run can only come from DAPT.
    pretrained = load_file(str(Path(tiny_model) / "model.safetensors"))
    saved = load_file(str(run.path / "model" / "encoder" / "model.safetensors"))  # a frozen encoder's place
    changed = [
        name for name in pretrained.keys() & saved.keys() if not (saved[name] == pretrained[name]).all()
    ]
    assert any("encoder.layer" in name for name in changed)
    assert run.metrics["test"]["examples"] > 0 and headstart.load_run(run.path).predict(["goal"])


def test_dapt_reads_unlabelled_text_files_and_follows_the_next_strategy_rate(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    unlabelled = tmp_path / "in_domain.txt"
    unlabelled.write_text(
        "\n".join(["the striker scored a goal in the league match"] * 40 + ["", "bank shares rose"] * 10),
        encoding="utf-8",
    )
    options = {key: value for key, value in TINY.items() if key != "lr"}
    run = headstart.train(
        toy_csv,
        out=tmp_path / "dapt-lora",
        model=tiny_model,
        strategy="dapt",
        strategy_options={"then": "lora", "text_file": str(unlabelled), "epochs": 1},
        **options,
    )
    assert run.metrics["training"]["dapt"]["texts"] + run.metrics["training"]["dapt"]["held_out"] == 50
    assert run.config.lr == 1e-3  # LoRA's rate, not full fine-tuning's
    assert run.metrics["cost"]["parameters_trainable"] < 0.2 * run.metrics["cost"]["parameters_total"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"then": "dapt"}, "another strategy than dapt"),
        ({"then": "nope"}, "Unknown strategy 'nope'"),
        ({"text_file": "missing.txt"}, "does not exist"),
    ],
)
def test_dapt_errors_are_config_or_data_errors(
    options: dict, message: str, toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    with pytest.raises(headstart.HeadstartError, match=message):
        headstart.train(
            toy_csv, out=tmp_path / "x", model=tiny_model, strategy="dapt", strategy_options=options, **TINY
        )
    assert not (tmp_path / "x").exists()
