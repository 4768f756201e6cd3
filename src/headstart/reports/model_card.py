"""The model card: README.md of a run (and of its exports), for the people who will use the
model, with the Hugging Face Hub's YAML metadata at its top."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from headstart.models.zoo import IMPORTED, PACKAGED
from headstart.record import CostRecord, RunRecord
from headstart.tasks import Task
from headstart.tasks.metrics import METRIC_NAMES

# Our metric names → the Hub's metric types (model-index), with the average where it matters.
HUB_METRICS = {
    "accuracy": ("accuracy", None),
    "macro_f1": ("f1", "macro"),
    "micro_f1": ("f1", "micro"),
    "f1": ("f1", "micro"),
    "precision": ("precision", "micro"),
    "recall": ("recall", "micro"),
    "subset_accuracy": ("accuracy", None),
    "pearson": ("pearsonr", None),
    "spearman": ("spearmanr", None),
    "mse": ("mse", None),
    "mae": ("mae", None),
}
LICENSE_NOTE = "# set the licence you publish under (mind the base model's and the data's terms)"


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
| peak memory (this run) | {cost["peak_memory_mib"]:.0f} MiB |
| measured on | {_device(cost)} |
"""


def _device(cost: CostRecord) -> str:
    device = cost.get("device")
    if not device:
        return "not recorded"
    return f"{device['device']} ({device.get('gpu') or device['cpu']}, {device['threads']} threads)"


def base_model_id(model: str) -> str | None:
    """The Hub id of the encoder a run started from (None for a local folder)."""
    if model in PACKAGED:
        return PACKAGED[model].hub_id
    if model in IMPORTED:
        return IMPORTED[model].hub_id
    looks_like_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    return model if looks_like_id and not Path(model).exists() else None


def data_name(config: dict[str, Any]) -> str:
    """What the data is called in a card: the bundled dataset, or a file's name (never its path,
    which may hold a user's name)."""
    if config.get("dataset"):
        return str(config["dataset"])
    for key in ("data", "annotations"):
        if config.get(key):
            return Path(str(config[key])).name
    return "data given from memory"


def hub_metadata(config: dict[str, Any], record: RunRecord, task: Task, library: str) -> str:
    """The card's YAML front matter for the Hugging Face Hub: base model, languages, library,
    pipeline tag, tags, dataset, model-index with the test metrics, and a licence to fill in."""
    counts = record["data"].get("languages", {})
    # The languages the model is for: those of at least a tenth of the training rows (language ID
    # mislabels a few short texts, which must not become claims).
    languages = [
        code for code, n in sorted(counts.items(), key=lambda x: -x[1]) if n >= 0.1 * sum(counts.values())
    ]
    pipeline = "token-classification" if task.name == "ner" else "text-classification"
    metadata: dict[str, Any] = {
        "library_name": library,
        "pipeline_tag": pipeline,
        "tags": ["headstart", config["strategy"], task.name],
    }
    base = base_model_id(config["model"])
    if base:
        metadata["base_model"] = base
    if languages:
        metadata["language"] = [code for code in languages if len(code) in (2, 3)][:10]
    if config.get("dataset"):
        metadata["datasets"] = [config["dataset"]]
    results = [
        {"type": HUB_METRICS[name][0], "value": round(float(value), 4), "name": METRIC_NAMES.get(name, name)}
        | ({"args": {"average": HUB_METRICS[name][1]}} if HUB_METRICS[name][1] else {})
        for name, value in record.get("test", {}).items()
        if name in HUB_METRICS and isinstance(value, float)
    ]
    if results:
        name = data_name(config)
        metadata["model-index"] = [
            {
                "name": f"headstart {config['strategy']} on {name}",
                "results": [
                    {
                        "task": {"type": pipeline, "name": task.name},
                        "dataset": {"name": name, "type": config.get("dataset") or "custom", "split": "test"},
                        "metrics": results,
                    }
                ],
            }
        ]
    text = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    return f"---\nlicense: unknown  {LICENSE_NOTE}\n{text}---\n"


def _provenance(record: RunRecord) -> str:
    facts = record.get("provenance")
    if not facts:
        return ""
    libraries = ", ".join(f"{name} {version}" for name, version in facts.get("libraries", {}).items())
    device = facts.get("device", {})
    where = device.get("gpu") or device.get("cpu", "?")
    fingerprints = ", ".join(f"{k} `{v}`" for k, v in record["data"].get("fingerprints", {}).items())
    commit = f" (commit `{facts['commit'][:12]}`)" if facts.get("commit") else ""
    threads, precision = device.get("threads", "?"), device.get("precision", "fp32")
    return f"""## Provenance
- headstart {facts["headstart"]}{commit}, Python {facts["python"]}
- Libraries: {libraries}
- Device: {device.get("device", "?")} ({where}, {threads} threads, {precision})
- Split fingerprints: {fingerprints or "not recorded"}

"""


def model_card(
    config: dict[str, Any], metrics: RunRecord, task: Task, library: str = "headstart", loading: str = ""
) -> str:
    """The README.md of a run (or of an export, with its `library` and how to load it): Hub
    metadata, data, test results, costs, compression, provenance, intended use."""
    data = metrics["data"]
    source = data_name(config)
    languages = (
        ", ".join(f"{lang} ({n})" for lang, n in list(data.get("languages", {}).items())[:5])
        or "not recorded"
    )
    title = {"regression": "Text regressor", "multi-label": "Multi-label text classifier"}.get(
        task.name, "Text classifier"
    )
    outputs = ", ".join(task.classes) or "a number per text"
    loading = loading or RUN_LOADING
    return f"""{hub_metadata(config, metrics, task, library)}
# {title}: {outputs}

Trained with headstart, strategy `{config["strategy"]}` on encoder `{config["model"]}`.

## Data
- Source: {source} (training split's fingerprint `{data["fingerprint"]}`)
- Examples: {data["train"]} train, {data["dev"]} dev, {data["test"]} test; task {task.name}
- Training languages (rows): {languages}
- Texts truncated to {config["max_length"]} tokens

## Test results
{_results(metrics["test"], task)}

## Cost
{_cost(metrics["cost"])}
{_compression(metrics.get("compression", {}), task.primary_metric)}{_provenance(metrics)}## How to load it
{loading}
## Intended use and limits
- Predicts for texts like those in the training data. Texts from other
  domains, languages or time periods may score far lower than the test figures.
- Test figures come from {data["test"]} held-out examples: small test sets give wide error margins.
- The model reproduces whatever biases the training labels carry; review errors before relying on it.
"""


RUN_LOADING = """- headstart: `headstart.load_run(path)`, `headstart predict RUN texts.csv -o out.csv`,
  `headstart serve RUN`.
- Your own stack: `headstart export RUN --format transformers|sentence-transformers|onnx --out DIR`
  writes a folder that transformers' `pipeline`, sentence-transformers or ONNX Runtime load as it is
  (`headstart export --help` says which formats suit which runs). The run's own `model/` folder is
  headstart's layout: a complete transformers model only for runs that trained every weight
  through a transformers head; frozen-encoder runs keep their encoder in `model/encoder/`, so
  transformers refuses `model/` instead of loading it under a random head.
"""
