"""The device seam, tested on a machine without a GPU: names are checked against what torch sees,
every forward pass (prediction, embeddings) goes through one placement — checked by placing a
stub model on torch's 'meta' device and by autocast in bf16 — and every command that runs a model
takes --device. `benchmarks/gpu_check.py` runs here with --device cpu and says what it measured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import synthetic_rows
from torch import nn

from headstart.cli import main
from headstart.devices import Placement, resolve_device, training_precision
from headstart.encoding import Windowing
from headstart.errors import ConfigError
from headstart.inference.predictor import ModelPredictor, variant_placement
from headstart.models.embeddings import embed_texts
from headstart.models.zoo import load_tokenizer
from headstart.runs import load_run
from headstart.tasks import Classification

ROOT = Path(__file__).resolve().parents[1]


class Recorder(nn.Module):
    """A stand-in classifier: records where its inputs arrive and whether autocast is on, and
    answers three logits per text on the CPU (a 'meta' tensor holds no values to copy back)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3))
        self.seen: list[tuple[str, bool]] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        autocast = (
            torch.is_autocast_enabled(input_ids.device.type) if input_ids.device.type != "meta" else False
        )
        self.seen.append((input_ids.device.type, autocast))
        return torch.zeros((input_ids.shape[0], 3))


def test_device_names_are_checked_against_what_torch_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("auto") == torch.device("cpu")  # HEADSTART_DEVICE=cpu in conftest
    for name, message in [
        ("cuda", "torch sees no CUDA GPU"),
        ("cuda:1", "torch sees no CUDA GPU"),
        ("mps", "no Apple GPU"),
        ("tpu", "Unknown device 'tpu'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            resolve_device(name)
    monkeypatch.delenv("HEADSTART_DEVICE")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")  # a GPU when torch sees one
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match=r"torch sees 2 GPU\(s\) \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


def test_half_precision_and_int8_are_placed_only_where_they_run(
    monkeypatch: pytest.MonkeyPatch, tiny_run, toy_csv: Path
) -> None:
    """bf16 inference on a CPU only where it multiplies bf16 natively (here said to, so an AVX2 CPU
    emulates it): the probabilities move a little and the predicted labels stay."""
    with pytest.raises(ConfigError, match="--precision fp16 is for GPUs"):
        Placement.of("cpu", "fp16")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    with pytest.raises(ConfigError, match="--precision bf16 needs a CPU with AVX512-BF16 or AMX"):
        Placement.of("cpu", "bf16")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert Placement.of("cpu", "bf16") == Placement(torch.device("cpu"), torch.bfloat16)
    texts = pd.read_csv(toy_csv).text.tolist()
    half = load_run(tiny_run.path, device="cpu", precision="bf16")
    assert half.predictor.placement == Placement(torch.device("cpu"), torch.bfloat16)
    full = load_run(tiny_run.path, device="cpu").predict_proba(texts, show_progress=False)
    halved = half.predict_proba(texts, show_progress=False)
    assert not np.array_equal(halved, full)
    np.testing.assert_allclose(halved, full, atol=0.05)
    assert (halved.argmax(axis=1) == full.argmax(axis=1)).mean() >= 0.95
    assert variant_placement("int8", "auto", "fp32").device == torch.device("cpu")
    with pytest.raises(ConfigError, match="applies to the fp32 variant"):
        variant_placement("onnx-int8", "cpu", "bf16")


def test_auto_mixed_precision_is_bf16_only_where_the_hardware_multiplies_bf16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for avx512_bf16, amx, expected in ((False, False, "no"), (True, False, "bf16"), (False, True, "bf16")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda value=avx512_bf16: value)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda value=amx: value)
        assert training_precision("auto", "cpu", trains_transformer=True) == expected
        assert training_precision("auto", "cpu", trains_transformer=False) == "no"
        given = ("no", "bf16", "fp16")
        assert [training_precision(value, "cpu", trains_transformer=True) for value in given] == list(given)


def test_auto_trains_in_bf16_where_the_hardware_has_it_and_records_it(
    monkeypatch: pytest.MonkeyPatch, toy_csv: Path, tiny_model: str, tiny_options: dict, tmp_path: Path
) -> None:
    """The same run with `auto` on a CPU said to have native bf16 and on one without: the first
    trains through the loop's own autograd steps (GELU, dropout, first token) under bf16 autocast
    (an AVX2 CPU emulates it, slowly: hence the 2-layer model), so its losses differ a little; a
    strategy that trains no transformer stays fp32."""
    import headstart

    options = {**tiny_options, "model": tiny_model, "epochs": 3, "lr": 1e-3}
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    losses = {}
    for native in (True, False):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda value=native: value)
        run = headstart.train(toy_csv, out=tmp_path / str(native), strategy="finetune", **options)
        assert run.config.mixed_precision == ("bf16" if native else "no")
        losses[native] = np.array([epoch["train_loss"] for epoch in run.metrics["training"]["history"]])
        assert losses[native][-1] < losses[native][0]
    assert not np.array_equal(losses[True], losses[False])
    np.testing.assert_allclose(losses[True], losses[False], rtol=0.05)
    frozen = headstart.train(toy_csv, out=tmp_path / "features", strategy="features", **options)
    assert frozen.config.mixed_precision == "no"


def test_every_forward_pass_goes_through_the_placement(minilm_dir: Path) -> None:
    tokenizer = load_tokenizer(minilm_dir)
    texts = [row["text"] for row in synthetic_rows(per_class=3, seed=61)]
    stub = Recorder()
    predictor = ModelPredictor(
        stub, tokenizer, Classification(["a", "b", "c"]), Windowing(32), 4, Placement(torch.device("meta"))
    )
    assert stub.weight.device.type == "meta"  # the model moved to the placement's device
    assert predictor.outputs(texts, show_progress=False).shape == (9, 3)
    assert {device for device, _ in stub.seen} == {"meta"}  # and so did every batch

    half = Recorder()
    ModelPredictor(
        half,
        tokenizer,
        Classification(["a", "b", "c"]),
        Windowing(32),
        4,
        Placement(torch.device("cpu"), torch.bfloat16),
    ).outputs(texts, show_progress=False)
    assert half.seen and all(autocast for _, autocast in half.seen)  # the precision reaches the forward

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.devices: list[str] = []

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> object:
            self.devices.append(input_ids.device.type)
            return type(
                "Output",
                (),
                {"last_hidden_state": torch.zeros((*input_ids.shape, 4), device=input_ids.device)},
            )

    encoder = Encoder()
    with pytest.raises(NotImplementedError):  # pooled on 'meta': there are no values to bring back
        embed_texts(
            encoder, tokenizer, texts, 32, show_progress=False, placement=Placement(torch.device("meta"))
        )
    assert encoder.devices == ["meta"]


def test_every_command_that_runs_a_model_takes_device(capsys: pytest.CaptureFixture, tiny_run) -> None:
    import typer

    from headstart.cli import app

    group = typer.main.get_command(app)
    context = group.make_context("headstart", [], resilient_parsing=True)
    for name in (
        "train",
        "evaluate",
        "predict",
        "serve",
        "quantize",
        "compare",
        "tune",
        "suggest",
        "distill",
        "prune",
    ):
        params = {param.name for param in group.get_command(context, name).params}
        assert "device" in params, name
    labels = group.get_command(context, "labels")
    assert "device" in {param.name for param in labels.get_command(context, "audit").params}
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(tiny_run.path), "--text", "a goal", "--device", "cuda"])
    error = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and error == (
        "error: --device cuda: torch sees no CUDA GPU; pick one of those or --device cpu."
    )


def test_gpu_check_benchmark_runs_on_the_cpu_and_names_the_device(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_check.py"),
            "--device",
            "cpu",
            "--quick",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "measured on: cpu" in done.stdout
    for step in ("train samples/s", "evaluate texts/s", "predict texts/s", "serve requests/s"):
        assert step in done.stdout, step


def test_small_linear_fits_run_on_one_thread_and_large_ones_keep_theirs(
    monkeypatch: pytest.MonkeyPatch, toy_csv: Path, tiny_options: dict, tmp_path: Path
) -> None:
    """A features run fits its logistic regressions with BLAS on one thread (static, tfidf, audits
    and active learning fit theirs through the same `small_fit_threads`); a larger fit keeps the
    count it had."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    import headstart
    from headstart.devices import ONE_THREAD_FIT_CELLS, small_fit_threads

    def blas_threads() -> int:
        return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")

    seen: list[int] = []
    fit = LogisticRegression.fit

    def counted_fit(self: LogisticRegression, *args: object, **options: object) -> LogisticRegression:
        seen.append(blas_threads())
        return fit(self, *args, **options)

    monkeypatch.setattr(LogisticRegression, "fit", counted_fit)
    with threadpool_limits(limits=2):  # as on a machine with 2 cores or more
        headstart.train(toy_csv, out=tmp_path / "run", strategy="features", **tiny_options)
        with small_fit_threads(ONE_THREAD_FIT_CELLS + 1):
            large = blas_threads()
        after = blas_threads()
    assert seen and set(seen) == {1}, seen
    assert large == after == 2
