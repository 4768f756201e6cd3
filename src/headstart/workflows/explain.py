"""`headstart explain`: explanations of a run's predictions as an HTML page (words shaded by
their scores) and the same as JSON beside it, and the faithfulness of a method on labelled texts."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from headstart.data.io import read_table
from headstart.errors import ConfigError
from headstart.evaluation.faithfulness import KS, deletion_drops
from headstart.files import write_text_atomic
from headstart.inference.explain import Explanation
from headstart.reports.explanations import explanations_html
from headstart.runs import Run, load_run


def explain_run(
    run: str | Path | Run,
    out: str | Path,
    *,
    texts: list[str] | None = None,
    data: str | Path | None = None,
    text_col: str | None = None,
    method: str | None = None,
    label: str | None = None,
    limit: int | None = None,
    device: str = "auto",
) -> list[Explanation]:
    """Explain `texts` (or the first `limit` texts of `data`); write the page to `out` (.html) and
    the scores to the same name with .json."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out '{out}' must be an .html file; the JSON is written beside it.")
    if (texts is None) == (data is None):
        raise ConfigError("Give --text TEXT (one or more) or --data FILE, not both.")
    loaded = run if isinstance(run, Run) else load_run(run, device=device)
    if data is not None:
        table = read_table(data)
        texts = loaded.inputs(table.head(limit) if limit else table, text_col)
    explanations = loaded.explain(texts, method, label)
    write_text_atomic(out, explanations_html(explanations))
    scores = [explanation.to_dict() for explanation in explanations]
    write_text_atomic(out.with_suffix(".json"), json.dumps(scores, ensure_ascii=False, indent=1))
    return explanations


def faithfulness(
    run: Run, texts: list[str], method: str | None = None, sample: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Comprehensiveness of `method` on `texts` (a seeded sample of `sample` of them): the mean
    drop of the predicted label's probability after erasing the top-k words and k random ones."""
    if sample is not None and sample < len(texts):
        texts = random.Random(seed).sample(texts, sample)
    explanations = run.explain(texts, method)
    drops = deletion_drops(
        explanations, lambda erased: run.predict_proba(erased, show_progress=False), KS, seed
    )
    return {"method": explanations[0].method if explanations else method, **drops}
