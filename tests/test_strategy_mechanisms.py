"""Each strategy proves its mechanism, not only that it runs (tiny random BERT: learning is not the point)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import headstart
from headstart.config import TrainConfig
from headstart.strategies import STRATEGIES, make_strategy
from headstart.strategies.base import layer_depths
from headstart.tasks import Classification
from headstart.training.loop import make_schedule, slanted_triangular

TINY = {
    "epochs": 1,
    "batch_size": 8,
    "lr": 1e-3,
    "patience": 0,
    "refit": "no",
    "checkpoint_every": 0,
    "warmup_ratio": 0.0,
    "max_length": 32,
}


def train_tiny(toy_csv: Path, tiny_model: str, out: Path, strategy: str, **options) -> headstart.Run:
    return headstart.train(toy_csv, out=out, model=tiny_model, strategy=strategy, **{**TINY, **options})


def weights_before_and_after(tiny_model: str, run: headstart.Run) -> tuple[dict, dict]:
    before = {f"bert.{k}": v for k, v in load_file(str(Path(tiny_model) / "model.safetensors")).items()}
    after = load_file(str(run.path / "model" / "model.safetensors"))
    return before, after


def build(strategy: str, tiny_model: str, **config):
    from headstart.training.job import TrainingJob

    chosen = make_strategy(strategy)
    config = {"lr": type(chosen).default_lr, **config}
    job = TrainingJob(
        config=TrainConfig(dataset="bbc-news", **config),
        model_path=Path(tiny_model),
        tokenizer=None,
        labels=["a", "b", "c"],
        max_length=32,
        train=None,
        dev=None,
        workdir=Path("."),
        resume=False,
        accelerator=None,
        task=Classification(["a", "b", "c"]),
        dev_labels=[],
    )
    return chosen, chosen.build(job), job.config


# features has its own tests (no training loop); multitask needs a second label column
# (tests/test_multitask.py);
# distill and prune start from a trained run (tests/test_compression.py).
@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - {"features", "multitask", "distill", "prune"}))
def test_every_training_strategy_runs_saves_and_reloads(
    name: str, toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    run = train_tiny(toy_csv, tiny_model, tmp_path / name, name)
    texts = ["goal match striker", "shares bank profit"]
    np.testing.assert_allclose(
        headstart.load_run(run.path).predict_proba(texts), run.predict_proba(texts), atol=1e-5
    )
    assert run.config.strategy == name


def test_layer_depths_count_from_the_head_down(tiny_model: str) -> None:
    _, model, _ = build("finetune", tiny_model)
    depths = layer_depths(model)
    assert depths["model.classifier.weight"] == 0 and depths["model.bert.pooler.dense.weight"] == 0
    assert depths["model.bert.encoder.layer.1.attention.self.query.weight"] == 1
    assert depths["model.bert.encoder.layer.0.output.dense.bias"] == 2
    assert depths["model.bert.embeddings.word_embeddings.weight"] == 3


def group_rates(groups: list[dict], model: torch.nn.Module) -> dict[int, float]:
    """The learning rate of each depth's parameters, read from the AdamW groups."""
    rate_of = {id(p): group["lr"] for group in groups for p in group["params"]}
    return {depth: rate_of[id(model.get_parameter(name))] for name, depth in layer_depths(model).items()}


def test_discriminative_lr_groups_carry_decayed_rates(tiny_model: str) -> None:
    strategy, model, config = build("discriminative-lr", tiny_model, lr=1e-3)
    groups = strategy.parameter_groups(model, config)
    assert group_rates(groups, model) == pytest.approx({0: 1e-3, 1: 8e-4, 2: 6.4e-4, 3: 5.12e-4})
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert all(g["weight_decay"] == 0 for g in groups if any(p.ndim < 2 for p in g["params"]))
    # The same mechanism is open to every strategy through the config.
    plain, model, config = build("finetune", tiny_model, lr=1e-3, layer_lr_decay=0.5)
    assert group_rates(plain.parameter_groups(model, config), model)[3] == pytest.approx(1.25e-4)


def test_layers_that_share_a_rate_share_a_group(tiny_model: str) -> None:
    strategy, model, config = build("finetune", tiny_model, lr=1e-3)  # decay 1: one rate everywhere
    groups = strategy.parameter_groups(model, config)
    assert sorted(g["weight_decay"] for g in groups) == [0.0, config.weight_decay]
    assert set(group_rates(groups, model).values()) == {1e-3}


def test_gradual_unfreeze_trains_only_unfrozen_groups(toy_csv: Path, tiny_model: str, tmp_path: Path) -> None:
    strategy, model, _ = build("gradual-unfreeze", tiny_model)
    strategy.on_epoch_start(model, 0)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        "model.classifier.weight",
        "model.classifier.bias",
        "model.bert.pooler.dense.weight",
        "model.bert.pooler.dense.bias",
    }
    # Epoch 2 (index 1): the top layer gets gradients; the lower layer and the embeddings get none.
    strategy.on_epoch_start(model, 1)
    ids = torch.tensor([[101, 2000, 2001, 102]])
    model(ids, torch.ones_like(ids)).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None for n, g in grads.items() if ".layer.1." in n or "classifier" in n)
    assert all(g is None for n, g in grads.items() if ".layer.0." in n or "embeddings" in n)
    # The loop calls the hook every epoch: after 2 epochs exactly the head and the top layer are trainable.
    run = train_tiny(toy_csv, tiny_model, tmp_path / "gu", "gradual-unfreeze", epochs=2)
    expected = sum(p.numel() for n, p in model.named_parameters() if layer_depths(model)[n] <= 1)
    assert run.metrics["cost"]["parameters_trainable"] == expected


def test_bitfit_changes_only_biases_and_the_head(toy_csv: Path, tiny_model: str, tmp_path: Path) -> None:
    run = train_tiny(toy_csv, tiny_model, tmp_path / "bitfit", "bitfit")
    before, after = weights_before_and_after(tiny_model, run)
    encoder_weights = [k for k in before if not k.endswith(".bias") and "pooler" not in k]
    assert all(torch.equal(before[k], after[k]) for k in encoder_weights)
    assert not all(
        torch.equal(before[k], after[k]) for k in before if k.endswith(".bias") and "pooler" not in k
    )
    cost = run.metrics["cost"]
    assert cost["parameters_trainable"] / cost["parameters_total"] < 0.05


def test_frozen_embeddings_stay_while_the_layers_train(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    run = train_tiny(toy_csv, tiny_model, tmp_path / "frozen", "finetune", freeze_embeddings=True)
    before, after = weights_before_and_after(tiny_model, run)
    token_table = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(before[token_table], after[token_table])
    query = "bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before[query], after[query])
    # Gradual unfreezing reaches the embeddings (depth 3 of the 2-layer model) in the 4th epoch: not these.
    strategy, model, _ = build("gradual-unfreeze", tiny_model, freeze_embeddings=True)
    strategy.on_epoch_start(model, 3)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"model.bert.embeddings.word_embeddings.weight"}


def test_l2sp_keeps_weights_next_to_the_pretrained_ones(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    def drift(alpha: float) -> float:
        run = train_tiny(
            toy_csv,
            tiny_model,
            tmp_path / f"l2sp-{alpha}",
            "l2sp",
            epochs=3,
            strategy_options={"alpha": alpha},
        )
        before, after = weights_before_and_after(tiny_model, run)
        return sum(float(((after[k] - before[k]) ** 2).sum()) for k in before if "encoder" in k) ** 0.5

    free, held = drift(0.0), drift(1e4)
    assert held < 0.5 * free, (held, free)


def test_l2sp_penalty_is_zero_at_the_start_and_grows_with_distance(tiny_model: str) -> None:
    strategy, model, config = build("l2sp", tiny_model)
    strategy.parameter_groups(model, config)  # the loop asks for the groups first: w₀ is taken there
    head_only = strategy.penalty(model)
    with torch.no_grad():
        model.model.bert.encoder.layer[0].output.dense.weight.add_(0.1)
    shifted = strategy.penalty(model)
    weight = model.model.bert.encoder.layer[0].output.dense.weight
    assert float((shifted - head_only).detach()) == pytest.approx(
        strategy.config.alpha / 2 * 0.01 * weight.numel(), rel=1e-3
    )


def test_stlr_rises_briefly_then_falls_long() -> None:
    multiplier = slanted_triangular(total_steps=100, cut_fraction=0.1, ratio=32)
    values = [multiplier(step) for step in range(101)]
    assert values[0] == pytest.approx(1 / 32) and values[10] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(values[:10], values[1:11], strict=True))
    assert all(a > b for a, b in zip(values[10:100], values[11:101], strict=True))
    assert values[100] == pytest.approx(1 / 32)


@pytest.mark.parametrize("name", ["linear", "cosine", "stlr"])
def test_every_schedule_peaks_at_lr_and_ends_low(name: str) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = make_schedule(optimizer, name, 0.1, 100)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert max(rates) == pytest.approx(1.0, abs=0.02) and rates[-1] < 0.05


def test_each_strategy_brings_its_learning_rate_unless_one_is_given(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    options = {key: value for key, value in TINY.items() if key != "lr"}
    lora = headstart.train(toy_csv, out=tmp_path / "lora", model=tiny_model, strategy="lora", **options)
    full = headstart.train(toy_csv, out=tmp_path / "full", model=tiny_model, strategy="finetune", **options)
    given = headstart.train(
        toy_csv, out=tmp_path / "given", model=tiny_model, strategy="lora", **options, lr=3e-5
    )
    assert (lora.config.lr, full.config.lr, given.config.lr) == (1e-3, 1e-4, 3e-5)


def test_invalid_strategy_options_are_config_errors() -> None:
    with pytest.raises(headstart.ConfigError, match="decay must be in"):
        make_strategy("discriminative-lr", {"decay": 1.5})
    with pytest.raises(headstart.ConfigError, match="alpha and beta"):
        make_strategy("l2sp", {"alpha": -1})


def test_lora_trains_under_2_percent_and_merging_keeps_the_logits(tiny_model: str) -> None:
    from headstart.models.zoo import resolve_model

    strategy, model, _ = build("lora", str(resolve_model("minilm-l6")))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable / sum(p.numel() for p in model.parameters()) < 0.02
    assert all(
        "lora_" in n or "classifier" in n or "pooler" in n
        for n, p in model.named_parameters()
        if p.requires_grad
    )

    strategy, model, _ = build("lora", tiny_model)
    with torch.no_grad():  # LoRA starts as a no-op (B = 0): give it an update worth merging
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    model.eval()
    ids = torch.tensor([[101, 2000, 2001, 2002, 102], [101, 2003, 102, 0, 0]])
    mask = (ids != 0).long()
    unmerged = model(ids, mask)
    model.model = model.model.merge_and_unload()
    assert not any("lora_" in n for n, _ in model.named_parameters())
    torch.testing.assert_close(model(ids, mask), unmerged, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["lora", "adapters"])
def test_peft_runs_save_a_plain_transformers_model(
    name: str, toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    run = train_tiny(toy_csv, tiny_model, tmp_path / name, name)
    assert not (run.path / "model" / "adapter_config.json").exists()
    saved = load_file(str(run.path / "model" / "model.safetensors"))
    assert not any("lora_" in k or "ia3_" in k or "base_model" in k for k in saved)
    AutoModelForSequenceClassification.from_pretrained(run.path / "model")
    cost = run.metrics["cost"]
    assert cost["parameters_trainable"] < 0.05 * cost["parameters_total"]


def test_features_mix_learns_layer_weights_and_saves_them(toy_csv: Path, tmp_path: Path) -> None:
    run = headstart.train(
        toy_csv,
        out=tmp_path / "mix",
        strategy="features-mix",
        max_length=48,
        strategy_options={"epochs": 15, "patience": 0},
    )
    history = run.metrics["training"]["history"]
    first, final = np.array(history[0]["mix_weights"]), np.array(run.metrics["training"]["mix_weights"])
    layers = 7  # MiniLM: embeddings + 6 layers
    assert len(final) == layers and final.sum() == pytest.approx(1.0, abs=1e-3)
    assert np.abs(final - 1 / layers).max() > 1e-3, "the mix must move away from uniform while training"
    assert not np.allclose(first, final)
    assert run.metrics["test"]["accuracy"] >= 0.9
    assert run.metrics["cost"]["parameters_trainable"] == layers + 1 + 2 * 384 + 384 * 3 + 3
    np.testing.assert_allclose(
        headstart.load_run(run.path).predict_proba(["goal"]), run.predict_proba(["goal"]), atol=1e-5
    )
