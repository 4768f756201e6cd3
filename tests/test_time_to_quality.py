"""benchmarks/time_to_quality.py's tables from logged runs: medians of timings, means of scores over
seeds, and the ratios the docs quote (throughput against the tuned Trainer, accuracy against the
plain one); a system killed by the kernel. The fits themselves are the benchmark's; this checks
the arithmetic on known lines."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_quality.py"


def benchmark() -> ModuleType:
    """The script as a module (benchmarks/ is not a package; torch is imported only to run fits)."""
    spec = importlib.util.spec_from_file_location("time_to_quality", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_line(system: str, seed: int, accuracy: float, samples_per_second: float | None = None) -> str:
    result = {
        "accuracy": accuracy,
        "macro_f1": accuracy - 0.1,
        "train_samples_per_second": samples_per_second,
        "wall_seconds": 100.0 + seed,
        "peak_rss_mib": 1000.0,
        "train_gflops_per_second": None if samples_per_second is None else 30.0 * samples_per_second,
    }
    return f"bbc · {system} · seed {seed}: {json.dumps(result)}"


def test_tables_from_two_logs_join_seeds_and_give_the_ratios(tmp_path: Path) -> None:
    ttq = benchmark()
    peers = ttq.PEER_SETTINGS
    first, more = tmp_path / "first.txt", tmp_path / "more.txt"
    first.write_text(
        "a header line the parser skips\n"
        + "\n".join(
            [
                run_line("headstart finetune", 42, 0.80),
                run_line(peers, 42, 0.79, samples_per_second=3.0),
                run_line("Trainer plain", 42, 0.79, samples_per_second=1.0),
                run_line("Trainer tuned", 42, 0.80, samples_per_second=2.0),
            ]
        )
    )
    more.write_text(
        "\n".join(
            [
                run_line("headstart finetune", 43, 0.82),
                run_line(peers, 43, 0.81, samples_per_second=5.0),
                run_line(peers, 44, 0.80, samples_per_second=4.5),
                run_line("Trainer plain", 43, 0.81, samples_per_second=2.0),
                run_line("Trainer tuned", 43, 0.80, samples_per_second=2.0),
            ]
        )
    )
    systems = ["headstart finetune", peers, "Trainer plain", "Trainer tuned"]
    text = "\n".join(ttq.tables_from_log([first, more], 150.0, systems))
    assert f"| {peers} | 3 | 143.0 | 4.5 | 1,000 | 0.8000 ± 0.010 | 0.7000 |" in text  # medians, mean ± std
    assert "accuracy (mean of 2 seeds): +1.00 points" in text  # 0.81 against 0.80
    # throughput: median 4.5 against 2.0 (and 1.5); accuracy 0.80 against 0.80; 135 GFLOP/s of 150
    assert "÷ Trainer tuned: ×2.25 (÷ Trainer plain: ×3.00), accuracy +0.00 points; 135.0 GFLOP/s" in text
    assert "90 % of the fp32 matmul peak" in text


def test_a_table_lacking_a_listed_system_is_left_out(tmp_path: Path) -> None:
    ttq = benchmark()
    log = tmp_path / "log.txt"
    log.write_text(run_line("headstart finetune", 42, 0.80) + "\n" + run_line("Trainer plain", 42, 0.78))
    assert ttq.tables_from_log([log], 150.0, ["headstart finetune", "Trainer plain", "Trainer tuned"]) == []
    text = "\n".join(ttq.tables_from_log([log], 150.0, ["headstart finetune", "Trainer plain"]))
    assert "accuracy (one seed): +2.00 points" in text


def test_a_killed_system_gets_a_row_that_says_so_and_no_ratio(tmp_path: Path) -> None:
    ttq = benchmark()
    killed = {"killed": "SIGKILL", "wall_seconds": 447.0, "peak_rss_mib": 23373.0}
    log = tmp_path / "log.txt"
    log.write_text(
        "\n".join(
            [
                run_line("headstart finetune", 42, 0.80),
                f"bbc · Trainer plain · seed 42: {json.dumps(killed)}",
                run_line("TF-IDF + LR", 42, 0.70),
            ]
        )
    )
    text = "\n".join(
        ttq.tables_from_log([log], 150.0, ["headstart finetune", "Trainer plain", "TF-IDF + LR"])
    )
    assert "| Trainer plain | 0 | 447.0 | – | 23,373 | killed (SIGKILL) | – |" in text
    assert "− Trainer plain" not in text and "Trainer plain ×" not in text  # no ratio with a killed run
    assert "headstart finetune ×1.0" in text  # 142 s against 142 s


def test_launch_reports_a_worker_the_kernel_killed_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in worker that sends itself SIGKILL, as the out-of-memory killer does to a fit."""
    ttq = benchmark()
    worker = tmp_path / "worker.py"
    worker.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    monkeypatch.setattr(ttq, "__file__", str(worker))
    result = ttq.launch(tmp_path, "bbc", "setfit library", 42, None, [])
    assert result["killed"] == "SIGKILL" and result["peak_rss_mib"] > 0 and "accuracy" not in result
