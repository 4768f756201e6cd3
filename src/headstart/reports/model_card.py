"""The model card: README.md of a run, for the people who will use the model."""

from __future__ import annotations

from typing import Any

from headstart.record import RunRecord
from headstart.tasks import Task
from headstart.tasks.metrics import METRIC_NAMES


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _compression(sections: dict[str, Any], metric: str) -> str:
    """One table per compression step: each model against its reference, measured in one process."""
    text = ""
    for section, result in sections.items():
        rows = "\n".join(
            f"| {name} | {m[metric]:.4f} | {m['score_change_points']:+.2f} | {m['batch_texts_per_second']:.1f} | "
            f"×{m['speedup']:.2f} | {m['latency_ms_p50']:.1f} | {_mib(m['size_bytes'])} | ×{m['size_ratio']:.2f} |"
            for name, m in result["models"].items()
        )
        notes = "".join(f"- {key.replace('_', ' ')}: {value}\n" for key, value in result.items() if key != "models")
        text += (f"## Compression: {section}\n{notes}\n| model | {METRIC_NAMES.get(metric, metric)} | change (points) | texts/s | "
                 f"speed-up | p50 ms | size | size ratio |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n{rows}\n\n")
    return text


def model_card(config: dict[str, Any], metrics: RunRecord, task: Task) -> str:
    """The README.md of a run: data, test results, costs, compression, intended use."""
    test, cost, data = metrics["test"], metrics["cost"], metrics["data"]
    source = config["data"] or f"bundled dataset `{config['dataset']}`"
    scores = "\n".join(f"| {METRIC_NAMES.get(name, name)} | {value:.4f} |" for name, value in test.items() if isinstance(value, float))
    per_class = "\n".join(
        f"| {label} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        for label, v in test.get("per_class", {}).items()
    )
    if per_class:
        per_class = "| class | precision | recall | F1 | support |\n| --- | --- | --- | --- | --- |\n" + per_class
    metric = METRIC_NAMES.get(task.primary_metric, task.primary_metric)
    by_language = "\n".join(f"| {lang} | {v['examples']} | {v.get(task.primary_metric, float('nan')):.4f} |"
                            for lang, v in test.get("by_language", {}).items())
    if by_language:
        per_class += f"\n\n| language | examples | {metric} |\n| --- | --- | --- |\n" + by_language
    languages = ", ".join(f"{lang} ({n})" for lang, n in list(data.get("languages", {}).items())[:5]) or "not recorded"
    title = {"regression": "Text regressor", "multi-label": "Multi-label text classifier"}.get(task.name, "Text classifier")
    outputs = ", ".join(task.classes) or "a number per text"
    return f"""# {title}: {outputs}

Trained with headstart, strategy `{config['strategy']}` on encoder `{config['model']}`.

## Data
- Source: {source} (fingerprint `{data['fingerprint']}`)
- Examples: {data['train']} train, {data['dev']} dev, {data['test']} test; task {task.name}
- Training languages (rows): {languages}
- Texts truncated to {config['max_length']} tokens

## Test results
| metric | value |
| --- | --- |
{scores}

{per_class}

## Cost
| | |
| --- | --- |
| training time | {cost['train_seconds']:.1f} s ({cost['train_samples_per_second']:.1f} samples/s) |
| batch inference | {cost['batch_texts_per_second']:.1f} texts/s |
| single-text latency | p50 {cost['latency_ms_p50']:.1f} ms, p95 {cost['latency_ms_p95']:.1f} ms |
| model size on disk | {_mib(cost['model_size_bytes'])} |
| parameters | {cost['parameters_trainable']:,} trainable of {cost['parameters_total']:,} |
| peak memory (process) | {cost['peak_memory_mib']:.0f} MiB |

{_compression(metrics.get("compression", {}), task.primary_metric)}## Intended use and limits
- Predicts for texts like those in the training data. Texts from other
  domains, languages or time periods may score far lower than the test figures.
- Test figures come from {data['test']} held-out examples: small test sets give wide error margins.
- The model reproduces whatever biases the training labels carry; review errors before relying on it.
- Load with `headstart.load_run(path)`; the `model/` folder is a Hugging Face folder (safetensors).
"""
