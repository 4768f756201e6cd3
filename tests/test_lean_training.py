"""What the training loop changes to do less work and keep fewer activations: dropout on a CPU
(`training/cpu_dropout.py`), the GELU computed again in the backward pass (`training/gelu_linear.py`),
the last layer of a first-token classifier computed for that token (`training/first_token.py`).
Each gives the outputs and gradients of its textbook definition, and the model is plain
transformers again after."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from transformers import AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification

import headstart.training.cpu_dropout as cpu_dropout_module
import headstart.training.gelu_linear as gelu_linear_module
from headstart.training.cpu_dropout import (
    CpuDropout,
    _DropoutAttention,
    attention,
    cpu_dropout,
    keep_mask,
)
from headstart.training.first_token import first_token_only
from headstart.training.gelu_linear import _GeluLinear, gelu_linear
from headstart.training.loop import clip_gradients


def test_the_keep_mask_keeps_1_minus_p_of_the_elements_independently() -> None:
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([1000, 1000]), 0.1)
    assert mask.dtype == torch.bool and abs(mask.float().mean().item() - 0.9) < 0.002
    # neighbours (which share a 64-bit draw) are independent: P(both kept) = 0.81
    assert abs((mask[:, :-1] & mask[:, 1:]).float().mean().item() - 0.81) < 0.003


# computed again a text at a time, or the whole batch at once; or kept from the forward pass
@pytest.mark.parametrize(("chunk", "kept"), [(25, 0), (1 << 20, 0), (1 << 20, 1 << 18)])
def test_dropout_attention_has_the_gradients_of_its_definition(
    chunk: int, kept: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu_dropout_module, "CHUNK_ELEMENTS", chunk)
    monkeypatch.setattr(cpu_dropout_module, "KEPT_ELEMENTS", kept)
    q, k, v = (torch.randn(2, 3, 5, 4, dtype=torch.double, requires_grad=True) for _ in range(3))
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[0, :, :, 3:] = False  # padding of the first text

    def dropped(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(1)  # the same mask at every call
        return _DropoutAttention.apply(q, k, v, mask, 0.3, 0.5)

    assert torch.autograd.gradcheck(dropped, (q, k, v))
    if chunk < 2 * 3 * 5 * 5:
        return  # the masks are drawn text by text: not the one draw below
    torch.manual_seed(1)
    keep = keep_mask(torch.Size([2, 3, 5, 5]), 0.3)
    scores = (q @ k.transpose(-1, -2) * 0.5).masked_fill(~mask, torch.finfo(torch.double).min)
    textbook = (torch.softmax(scores, dim=-1) * keep / 0.7) @ v
    assert torch.allclose(dropped(q, k, v), textbook)


def test_cpu_dropout_backward_uses_the_forward_mask() -> None:
    x = torch.randn(64, 32, requires_grad=True)
    layer = CpuDropout(0.25).train()
    y = layer(x)
    y.sum().backward()
    assert x.grad is not None
    kept = y != 0
    assert torch.equal(x.grad, kept.float() / 0.75)
    assert torch.equal(layer.eval()(x), x)


def test_padding_is_masked_as_transformers_masks_it(tiny_model: str) -> None:
    # Dropout so small that nothing is dropped: the training path must give transformers' logits.
    dropout = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 1e-9}
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3, **dropout).train()
    ids = torch.randint(1000, 2000, (4, 9))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    plain = model(input_ids=ids, attention_mask=mask).logits
    with cpu_dropout(model):
        assert torch.allclose(model(input_ids=ids, attention_mask=mask).logits, plain, atol=1e-5)


def test_the_model_trains_with_it_and_is_plain_transformers_after(tiny_model: str) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3).train()
    ids = torch.randint(1000, 2000, (4, 9))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    with cpu_dropout(model):
        assert model.config._attn_implementation == "headstart_cpu_dropout"
        assert all(type(m) is not torch.nn.Dropout for m in model.modules())
        model(input_ids=ids, attention_mask=mask).logits.sum().backward()
    assert model.config._attn_implementation == "sdpa"
    assert any(type(m) is torch.nn.Dropout for m in model.modules())
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_without_dropout_attention_is_transformers_sdpa() -> None:
    q, k, v = (torch.randn(2, 3, 5, 4, requires_grad=True) for _ in range(3))
    encoder_layer = torch.nn.Module()
    encoder_layer.is_causal = False
    output, _ = attention(encoder_layer, q, k, v, None, dropout=0.0, scaling=0.5)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.5).transpose(1, 2)
    assert torch.allclose(output, expected, atol=1e-6)


def test_gelu_linear_has_the_gradients_of_gelu_then_linear() -> None:
    x = torch.randn(3, 4, 6, dtype=torch.double, requires_grad=True)
    weight = torch.randn(5, 6, dtype=torch.double, requires_grad=True)
    bias = torch.randn(5, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(_GeluLinear.apply, (x, weight, bias))
    textbook = torch.nn.functional.linear(torch.nn.functional.gelu(x), weight, bias)
    assert torch.allclose(_GeluLinear.apply(x, weight, bias), textbook)


def test_gelu_linear_under_autocast_has_the_gradients_of_gelu_then_linear() -> None:
    """--mixed-precision bf16: the backward multiplies in bf16 as the forward did (before, it
    failed on bf16 @ fp32) and each gradient comes back in its input's dtype."""
    x = torch.randn(3, 4, 16, requires_grad=True)
    linear = torch.nn.Linear(16, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = _GeluLinear.apply(x, linear.weight, linear.bias)
        textbook = linear(torch.nn.functional.gelu(x))
    assert ours.dtype == textbook.dtype == torch.bfloat16
    ours_grads = torch.autograd.grad(ours.float().square().sum(), (x, linear.weight, linear.bias))
    textbook_grads = torch.autograd.grad(textbook.float().square().sum(), (x, linear.weight, linear.bias))
    for mine, theirs in zip(ours_grads, textbook_grads, strict=True):
        assert mine.dtype == torch.float32
        assert torch.allclose(mine, theirs, rtol=0.05, atol=0.05 * theirs.abs().max().item())


@pytest.mark.parametrize("recomputed_above", [0, gelu_linear_module.RECOMPUTED_ABOVE])  # recomputed, kept
def test_gelu_linear_changes_every_layer_and_no_output(
    tiny_model: str, recomputed_above: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gelu_linear_module, "RECOMPUTED_ABOVE", recomputed_above)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3).eval()
    ids = torch.randint(1000, 2000, (2, 7))
    plain = model(input_ids=ids).logits
    plain.sum().backward()
    plain_grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    names = [name for name, _ in model.named_parameters()]
    with gelu_linear(model) as changed:
        assert changed == model.config.num_hidden_layers
        swapped = model(input_ids=ids).logits
        assert torch.allclose(swapped, plain, atol=1e-6)
        swapped.sum().backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, plain_grads, strict=True))
        assert [name for name, _ in model.named_parameters()] == names  # checkpoints load either way
    assert type(model.bert.encoder.layer[0].output.dense) is torch.nn.Linear
    assert torch.equal(model(input_ids=ids).logits, plain)


@pytest.mark.parametrize("fused", [True, False])  # the scaling left to AdamW, or done in place
@pytest.mark.parametrize("scale", [0.01, 100.0])  # gradients within the norm, and far above it
def test_clipping_on_a_cpu_steps_as_torchs(scale: float, fused: bool) -> None:
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)
    theirs.load_state_dict(ours.state_dict())
    mine, other = (torch.optim.AdamW(m.parameters(), lr=0.1, fused=fused) for m in (ours, theirs))
    for _ in range(3):
        x = torch.randn(16, 8)
        for model in (ours, theirs):
            (model(x).sum() * scale).backward()
        before = float(torch.nn.utils.get_total_norm([p.grad for p in ours.parameters()]))
        clip_gradients(Accelerator(cpu=True), ours, mine, 1.0)
        # Scaled in the optimiser's step when fused: the gradients stay as they are until then.
        assert (mine.grad_scale is not None) == (fused and before > 1)
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        mine.step(), other.step()
        mine.zero_grad(), other.zero_grad()
        assert (before > 1) == (scale > 1)
        for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert torch.allclose(a, b, rtol=0, atol=1e-6)


def gradients(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    model(input_ids=ids, attention_mask=mask).logits.pow(2).sum().backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_the_first_token_layer_gives_the_classifiers_outputs_and_gradients(tiny_model: str) -> None:
    no_dropout = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3, **no_dropout).train()
    ids = torch.randint(1000, 2000, (4, 9))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    plain, expected = model(input_ids=ids, attention_mask=mask).logits, gradients(model, ids, mask)
    with first_token_only(model) as applied, cpu_dropout(model):
        assert applied
        assert torch.allclose(model(input_ids=ids, attention_mask=mask).logits, plain, atol=1e-6)
        found = gradients(model, ids, mask)
    assert found.keys() == expected.keys()
    assert all(torch.allclose(found[name], expected[name], atol=1e-6) for name in expected)
    assert "forward" not in vars(model.bert.encoder.layer[-1])  # the class's own forward again


def test_token_classifiers_and_pooled_encoders_keep_every_token(tiny_model: str) -> None:

    for model in (
        AutoModelForTokenClassification.from_pretrained(tiny_model),
        AutoModel.from_pretrained(tiny_model),
    ):
        with first_token_only(model) as applied:
            assert not applied


def test_swapped_dropout_keeps_the_models_mode(tiny_model: str) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3).eval()
    ids = torch.randint(1000, 2000, (2, 7))
    plain = model(input_ids=ids).logits
    with cpu_dropout(model):
        assert torch.equal(model(input_ids=ids).logits, plain)
