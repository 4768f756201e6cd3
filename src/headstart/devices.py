"""Where models run: one device seam for training, evaluation, prediction, embeddings, latency
measurement and serving.

`auto` takes a GPU when torch sees one (CUDA, else Apple's MPS), otherwise the CPU;
`HEADSTART_DEVICE` changes what `auto` means (the test suite sets it to `cpu`). Inference may run
in fp16 or bf16 on GPUs (`precision`), and in bf16 on CPUs that multiply it natively; other CPUs
run fp32 or the int8 variants. Training multiplies in bf16 (`mixed_precision`, weights kept in
fp32) where the hardware does so natively: on a CPU with AVX512-BF16, bf16 matrix products of
MiniLM's shapes ran 2.5-3x faster than fp32; on an AVX2-only CPU they run several times slower, so
there training stays fp32.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from headstart.config import check_device_name, check_precision
from headstart.errors import ConfigError

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Up to this many values (rows × columns when dense), a linear model's fit is faster on one thread.
# Measured on 2 cores (2026-12-08): lbfgs logistic regressions up to 20,000 × 768 ran 1.3-4×
# faster on one; on 1,780 × 384 beside torch, 4×. Larger fits keep the libraries' thread counts.
ONE_THREAD_FIT_CELLS = 2**24


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The torch device a name asks for, checked against what this machine has."""
    if isinstance(name, torch.device):  # already resolved (tests place on 'meta')
        return name
    check_device_name(name)
    if name == "auto":
        name = os.environ.get("HEADSTART_DEVICE", "").strip() or _best_device()
        check_device_name(name)
        if name == "auto":
            name = _best_device()
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= count:
            seen = f"{count} GPU(s) (cuda:0 to cuda:{count - 1})" if count else "no CUDA GPU"
            raise ConfigError(f"--device {name}: torch sees {seen}; pick one of those or --device cpu.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: torch sees no Apple GPU here; use --device cpu.")
    return torch.device(name)


def _best_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


@dataclass(frozen=True)
class Placement:
    """A device and the precision inference runs at there."""

    device: torch.device
    dtype: torch.dtype = torch.float32

    @classmethod
    def of(cls, device: str | torch.device = "auto", precision: str = "fp32") -> Placement:
        """The placement a device name and a precision ask for, checked."""
        resolved = resolve_device(device)
        check_precision(precision)
        dtype = DTYPES[precision]
        if dtype == torch.float16 and resolved.type == "cpu":
            raise ConfigError(
                "--precision fp16 is for GPUs; on a CPU use fp32, an int8 variant, or bf16 where the "
                "CPU has AVX512-BF16 or AMX."
            )
        if dtype == torch.bfloat16 and resolved.type == "cpu" and not native_bf16(resolved):
            raise ConfigError(
                "--precision bf16 needs a CPU with AVX512-BF16 or AMX (this one would emulate it, several "
                "times slower than fp32); use fp32 or an int8 variant."
            )
        if dtype == torch.bfloat16 and resolved.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError(f"{resolved} has no bf16 support; use --precision fp16 or fp32.")
        return cls(resolved, dtype)

    @property
    def precision(self) -> str:
        """fp32, fp16 or bf16."""
        return next(name for name, dtype in DTYPES.items() if dtype == self.dtype)

    def inputs(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Tensors moved onto the device (asynchronously from pinned memory on CUDA)."""
        return tuple(t.to(self.device, non_blocking=self.device.type == "cuda") for t in tensors)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Matrix products in the placement's precision (weights stay fp32); nothing for fp32."""
        if self.dtype == torch.float32:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            yield


CPU = Placement(torch.device("cpu"))


def device_facts(device: torch.device, precision: str = "fp32") -> dict[str, Any]:
    """What a cost figure was measured on: device, its name, the CPU and torch's thread count."""
    facts: dict[str, Any] = {
        "device": str(device),
        "precision": precision,
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    return facts


@contextlib.contextmanager
def small_fit_threads(cells: int) -> Iterator[None]:
    """Within: BLAS and OpenMP on one thread when a fit over `cells` values (a dense matrix's
    rows × columns, a sparse one's stored values) is small. Each product of a small fit is too
    short for threads: their pools spend more on waking and on spinning against torch's."""
    if cells > ONE_THREAD_FIT_CELLS:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def cpu_name() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies bf16 matrices in hardware (not by converting to fp32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def training_precision(mixed_precision: str, device: str | torch.device, trains_transformer: bool) -> str:
    """The mixed precision training runs at: `auto` is bf16 when a transformer trains on a device
    with native bf16 (measured there; the small heads of the other strategies were measured in
    fp32 only), else 'no' (fp32); any other value as given."""
    if mixed_precision != "auto":
        return mixed_precision
    return "bf16" if trains_transformer and native_bf16(resolve_device(device)) else "no"


def make_accelerator(device: str, mixed_precision: str = "no") -> Any:
    """Accelerate on a device: the CPU, a GPU (cuda:N picks one of several) or Apple's MPS; under
    torchrun or `accelerate launch`, one process per device."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    resolved = resolve_device(device)
    if resolved.type == "cuda" and resolved.index is not None:
        torch.cuda.set_device(resolved)  # Accelerate takes the current CUDA device in a single process
    # Accelerate keeps one mixed precision per process, while one process may train at several
    # (compare: finetune in bf16, features in fp32). transformers' Trainer resets it the same way;
    # the process group (PartialState) stays.
    AcceleratorState._reset_state()
    return Accelerator(cpu=resolved.type == "cpu", mixed_precision=mixed_precision)
