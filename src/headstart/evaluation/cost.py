"""What a model costs: inference speed, size, parameters, memory."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameters in all, and those that train."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters_total": int(total), "parameters_trainable": int(trainable)}


STATUS, CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def reset_peak_memory() -> bool:
    """Start measuring peak memory afresh, so a run's peak is its own, not that of an earlier run
    in the same process (compare, tune, learning curves). Linux only (writing 5 to clear_refs
    resets VmHWM); returns whether it could."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_memory_mib() -> float:
    """Peak resident memory in MiB since `reset_peak_memory` (Linux: VmHWM), else the process's."""
    if STATUS.is_file():
        for line in STATUS.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    # ru_maxrss is KiB on Linux and bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def timed_pass(
    predict: Callable[[list[Any], bool], Any], texts: Sequence[Any], warm_up: int = 8
) -> tuple[Any, float]:
    """`predict(rows, show_progress)`'s outputs on all `texts` and its batch throughput (texts/s),
    timed after a warm-up on a few that shows no progress (first calls allocate and pick kernels):
    the pass that scores a model measures its speed too, instead of predicting the texts again."""
    texts = list(texts)
    predict(texts[:warm_up], False)
    started = time.perf_counter()
    outputs = predict(texts, True)
    return outputs, round(len(texts) / (time.perf_counter() - started), 1)


def single_text_latency(
    predict: Callable[[list[Any]], Any], texts: Sequence[Any], count: int = 50
) -> dict[str, float]:
    """Latency percentiles (ms) of predicting one text at a time, over the first `count` texts."""
    latencies = []
    for text in list(texts)[:count]:
        started = time.perf_counter()
        predict([text])
        latencies.append((time.perf_counter() - started) * 1000)
    return {
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
    }
