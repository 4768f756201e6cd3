"""What a compression step costs and saves: each model measured on the run's own test split in
one process, next to its reference, and written into the run's metrics.json and model card."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from headstart.config import write_text_atomic
from headstart.data.dataset import LabelledTexts, splits_for
from headstart.errors import DataError
from headstart.evaluation.cost import folder_size, inference_speed
from headstart.progress import info
from headstart.reports.model_card import model_card
from headstart.run import Predictor, Run


def test_split(run: Run) -> LabelledTexts:
    """The run's test split, rebuilt from its config; refused when the data no longer matches."""
    splits = splits_for(run.config)
    trained_on = run.metrics.get("data", {}).get("fingerprint")
    if trained_on is not None and splits.train.fingerprint() != trained_on:
        raise DataError(f"The data of '{run.path}' changed since training (fingerprint differs), so its test split cannot "
                        "be rebuilt; restore the original file or retrain.")
    return splits.test


def model_bytes(run_path: Path, variant: str, classifier: torch.nn.Module) -> int:
    """Size on disk; the int8 variant is made on load, so its size is that of its serialised weights."""
    if variant == "fp32":
        return folder_size(run_path / "model")
    if variant == "int8":
        buffer = io.BytesIO()
        torch.save(classifier.state_dict(), buffer)
        return buffer.getbuffer().nbytes
    return folder_size(run_path / "variants" / variant)


def measure(predictor: Predictor, test: LabelledTexts, size_bytes: int) -> dict[str, Any]:
    """Test metric, batch throughput, single-text latency and size of one model."""
    task = predictor.task
    scores = task.metrics(predictor.outputs(test.inputs(), show_progress=False), test.labels)
    kept = {name: scores[name] for name in (task.primary_metric, "accuracy") if name in scores}
    speed = inference_speed(lambda rows: predictor.outputs(rows, show_progress=False), test.inputs())
    return {**kept, **speed, "size_bytes": size_bytes}


def against(entries: dict[str, dict[str, Any]], reference: str, metric: str) -> dict[str, dict[str, Any]]:
    """Each entry with its change against the reference: metric points, speed-up, size ratio."""
    base = entries[reference]
    return {
        name: {**entry, "of": reference,
               "score_change_points": round(100 * (entry[metric] - base[metric]), 2),
               "speedup": round(entry["batch_texts_per_second"] / base["batch_texts_per_second"], 2),
               "size_ratio": round(entry["size_bytes"] / base["size_bytes"], 3)}
        for name, entry in entries.items()
    }


def record(run: Run, section: str, entries: dict[str, dict[str, Any]], notes: dict[str, Any] | None = None) -> None:
    """Store the comparison under metrics.json["compression"][section] (and in `run.metrics`) and
    rewrite the model card."""
    run.metrics.setdefault("compression", {})[section] = {"models": entries, **(notes or {})}
    write_text_atomic(run.path / "metrics.json", json.dumps(run.metrics, indent=2))
    write_text_atomic(run.path / "README.md", model_card(run.config.to_dict(), run.metrics, run.task))
    for name, entry in entries.items():
        info(f"{section} · {name}: {run.task.primary_metric} {entry[run.task.primary_metric]:.4f} "
             f"({entry['score_change_points']:+.2f} pts), {entry['batch_texts_per_second']:.0f} texts/s "
             f"(×{entry['speedup']:.2f}), {entry['size_bytes'] / 2**20:.1f} MiB (×{entry['size_ratio']:.2f})")


def same_split(run: Run, source: Run) -> LabelledTexts:
    """The test split two runs share (a derived run keeps its source's data, split and seed)."""
    fields = ("data", "dataset", "test_data", "seed", "test_size", "dev_size", "sample")
    if any(getattr(run.config, f) != getattr(source.config, f) for f in fields):
        raise DataError(f"'{run.path}' and '{source.path}' were not trained on the same split; compare them with "
                        "`headstart evaluate --data` on one file instead.")
    return test_split(run)
