"""What a compression step costs and saves: each model measured on the same test rows in one
process, and compared with its reference (metric points, speed-up, size ratio)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from headstart.data.labelled import LabelledTexts
from headstart.evaluation.cost import single_text_latency, timed_pass
from headstart.files import folder_size
from headstart.inference.predictor import ModelPredictor
from headstart.models.variants import variant_dir
from headstart.record import MODEL_DIR


def model_bytes(run_path: Path, variant: str, classifier: torch.nn.Module) -> int:
    """Size on disk; the int8 variant is made on load, so its size is that of its serialised weights."""
    if variant == "fp32":
        return folder_size(run_path / MODEL_DIR)
    if variant == "int8":
        buffer = io.BytesIO()
        torch.save(classifier.state_dict(), buffer)
        return buffer.getbuffer().nbytes
    return folder_size(variant_dir(run_path, variant))


def measure(predictor: ModelPredictor, test: LabelledTexts, size_bytes: int) -> dict[str, Any]:
    """Test metric, batch throughput, single-text latency and size of one model, and the device
    it ran on."""
    task = predictor.task

    def predict(rows: list[Any]) -> Any:
        return predictor.outputs(rows, show_progress=False)

    outputs, throughput = timed_pass(lambda rows, _: predict(rows), test.inputs())
    scores = task.metrics(outputs, test.labels)
    kept = {name: scores[name] for name in (task.primary_metric, "accuracy") if name in scores}
    return {
        **kept,
        "batch_texts_per_second": throughput,
        **single_text_latency(predict, test.inputs()),
        "size_bytes": size_bytes,
        "device": str(predictor.placement.device),
    }


def against(entries: dict[str, dict[str, Any]], reference: str, metric: str) -> dict[str, dict[str, Any]]:
    """Each entry with its change against the reference: metric points, speed-up, size ratio."""
    base = entries[reference]
    return {
        name: {
            **entry,
            "of": reference,
            "score_change_points": round(100 * (entry[metric] - base[metric]), 2),
            "speedup": round(entry["batch_texts_per_second"] / base["batch_texts_per_second"], 2),
            "size_ratio": round(entry["size_bytes"] / base["size_bytes"], 3),
        }
        for name, entry in entries.items()
    }
