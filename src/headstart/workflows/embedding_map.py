"""`headstart map`: where a run puts each text — the vectors its head reads, laid out on a plane
(UMAP, or PCA), coloured by label, misclassified texts marked; a PNG and an HTML page to hover."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.columns import LABEL_COLUMNS
from headstart.data.memory import Table, file_table, is_path, memory_table
from headstart.errors import ConfigError
from headstart.evaluation.projection import project, resolve_method
from headstart.files import write_text_atomic
from headstart.inference.embeddings import head_inputs
from headstart.preparation import prediction_inputs, prepare_labelled
from headstart.reports.embedding_map import MapPoints, map_html, plot_map
from headstart.runs import Run, load_run

DEFAULT_LIMIT = 2000  # texts on one map: UMAP stays at seconds, the page stays light


def embedding_map(
    run: str | Path | Run,
    data: Any,
    out: str | Path = "map.html",
    *,
    text_col: str | None = None,
    label_col: str | None = None,
    method: str = "auto",
    limit: int | None = DEFAULT_LIMIT,
    seed: int = 0,
    device: str = "auto",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Map the texts of `data` (a file or a table; a seeded sample of `limit` of them): write the
    page to `out` (.html) and the PNG beside it; return what was drawn and its figures."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out '{out}' must be an .html file; the PNG is written beside it.")
    if limit is not None and limit < 3:
        raise ConfigError(f"--limit must be at least 3 (a map of fewer texts shows nothing); got {limit}.")
    method = resolve_method(method)
    loaded = run if isinstance(run, Run) else load_run(run, device=device)
    if loaded.task.name != "classification":
        raise ConfigError(f"Maps colour texts by one class; this run's task is {loaded.task.name}.")
    config = loaded.config
    table = file_table(data, config.encoding, config.delimiter) if is_path(data) else memory_table(data)
    texts, true = texts_and_labels(loaded, table, text_col, label_col)
    if limit is not None and len(texts) > limit:
        keep = sorted(np.random.default_rng(seed).choice(len(texts), limit, replace=False))
        texts, true = [texts[i] for i in keep], None if true is None else [true[i] for i in keep]
    vectors, probabilities = head_inputs(loaded.predictor, texts, show_progress)
    predicted = [str(label) for label in loaded.task.decide(probabilities)]
    points, method = project(vectors, method, seed)
    drawn = MapPoints(points, texts, predicted, true, loaded.labels, method)
    title = f"{loaded.path.name}: {len(texts)} texts of {table.source} ({method.upper()})"
    png = out.with_suffix(".png")
    plot_map(drawn, png, title)
    write_text_atomic(out, map_html(drawn, title, png.name))
    summary = {"html": str(out), "png": str(png), "method": method, "texts": len(texts)}
    if true is not None:
        summary["misclassified"] = int(drawn.wrong().sum())
    write_text_atomic(out.with_suffix(".json"), json.dumps(summary | {"points": points.round(4).tolist()}))
    return summary


def texts_and_labels(
    run: Run, table: Table, text_col: str | None, label_col: str | None
) -> tuple[list[str], list[str] | None]:
    """The texts, and their labels when the table has a label column (named, the run's, or one of
    the usual names); without one the map shows predictions only."""
    named = label_col or run.config.label_col
    names = [named] if named else LABEL_COLUMNS
    if not any(name in table.frame.columns for name in names):
        texts = prediction_inputs(run.config, table, text_col)
        return check_single_texts(texts), None
    labelled = prepare_labelled(run.config, table, run.task, text_col, label_col)
    return check_single_texts(labelled.inputs()), [str(label) for label in labelled.labels]


def check_single_texts(inputs: list[Any]) -> list[str]:
    """Maps show texts; a run on sentence pairs is refused."""
    if any(not isinstance(text, str) for text in inputs):
        raise ConfigError("Maps are for runs on single texts, not on sentence pairs.")
    return list(inputs)
