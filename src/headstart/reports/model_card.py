"""The model card: README.md of a run, for the people who will use the model."""

from __future__ import annotations

from typing import Any

from headstart.record import CostRecord, RunRecord
from headstart.tasks import Task
from headstart.tasks.metrics import METRIC_NAMES


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _compression(sections: dict[str, Any], metric: str) -> str:
    """One table per compression step: each model against its reference, measured in one process."""
    text = ""
    for section, result in sections.items():
        rows = "\n".join(
            f"| {name} | {m[metric]:.4f} | {m['score_change_points']:+.2f} | "
            f"{m['batch_texts_per_second']:.1f} | "
            f"×{m['speedup']:.2f} | {m['latency_ms_p50']:.1f} | "
            f"{_mib(m['size_bytes'])} | ×{m['size_ratio']:.2f} |"
            for name, m in result["models"].items()
        )
        notes = "".join(
            f"- {key.replace('_', ' ')}: {value}\n" for key, value in result.items() if key != "models"
        )
        text += (
            f"## Compression: {section}\n{notes}\n| model | "
            f"{METRIC_NAMES.get(metric, metric)} | change (points) | texts/s | "
            "speed-up | p50 ms | size | size ratio |\n| --- | --- "
            f"| --- | --- | --- | --- | --- | --- |\n{rows}\n\n"
        )
    return text


def _results(test: dict[str, Any], task: Task) -> str:
    """The test metrics, then per class and per language when there are such scores."""
    if not test:
        return (
            "No test split (test_size 0): the run was scored on its dev split only "
            "(metrics.json → training).\n"
        )
    scores = "\n".join(
        f"| {METRIC_NAMES.get(name, name)} | {value:.4f} |"
        for name, value in test.items()
        if isinstance(value, float)
    )
    text = f"| metric | value |\n| --- | --- |\n{scores}\n\n"
    per_class = "\n".join(
        f"| {label} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        for label, v in test.get("per_class", {}).items()
    )
    if per_class:
        text += "| class | precision | recall | F1 | support |\n| --- | --- | --- | --- | --- |\n" + per_class
    by_language = "\n".join(
        f"| {lang} | {v['examples']} | {v.get(task.primary_metric, float('nan')):.4f} |"
        for lang, v in test.get("by_language", {}).items()
    )
    if by_language:
        metric = METRIC_NAMES.get(task.primary_metric, task.primary_metric)
        text += f"\n\n| language | examples | {metric} |\n| --- | --- | --- |\n" + by_language
    return text


def _cost(cost: CostRecord) -> str:
    return f"""| | |
| --- | --- |
| training time | {cost["train_seconds"]:.1f} s ({cost["train_samples_per_second"]:.1f} samples/s) |
| batch inference | {cost["batch_texts_per_second"]:.1f} texts/s |
| single-text latency | p50 {cost["latency_ms_p50"]:.1f} ms, p95 {cost["latency_ms_p95"]:.1f} ms |
| model size on disk | {_mib(cost["model_size_bytes"])} |
| parameters | {cost["parameters_trainable"]:,} trainable of {cost["parameters_total"]:,} |
| peak memory (process) | {cost["peak_memory_mib"]:.0f} MiB |
"""


def model_card(config: dict[str, Any], metrics: RunRecord, task: Task) -> str:
    """The README.md of a run: data, test results, costs, compression, intended use."""
    data = metrics["data"]
    source = config["data"] or f"bundled dataset `{config['dataset']}`"
    languages = (
        ", ".join(f"{lang} ({n})" for lang, n in list(data.get("languages", {}).items())[:5])
        or "not recorded"
    )
    title = {"regression": "Text regressor", "multi-label": "Multi-label text classifier"}.get(
        task.name, "Text classifier"
    )
    outputs = ", ".join(task.classes) or "a number per text"
    return f"""# {title}: {outputs}

Trained with headstart, strategy `{config["strategy"]}` on encoder `{config["model"]}`.

## Data
- Source: {source} (fingerprint `{data["fingerprint"]}`)
- Examples: {data["train"]} train, {data["dev"]} dev, {data["test"]} test; task {task.name}
- Training languages (rows): {languages}
- Texts truncated to {config["max_length"]} tokens

## Test results
{_results(metrics["test"], task)}

## Cost
{_cost(metrics["cost"])}
{_compression(metrics.get("compression", {}), task.primary_metric)}## Intended use and limits
- Predicts for texts like those in the training data. Texts from other
  domains, languages or time periods may score far lower than the test figures.
- Test figures come from {data["test"]} held-out examples: small test sets give wide error margins.
- The model reproduces whatever biases the training labels carry; review errors before relying on it.
- Load with `headstart.load_run(path)`; the `model/` folder is a Hugging Face folder (safetensors).
"""
