"""Active learning: which unlabelled texts to label next, and a replay that shows what it saves.

Choice = uncertainty with a diversity guard, as Cluster-Margin (Citovsky et al. 2021): the
`candidates × k` texts the model is least sure of (the margin between its two likeliest classes,
or entropy) are clustered into k groups on their embeddings, and the text nearest each centre is
taken, so one batch does not spend its budget on near duplicates of one confusing text.

`simulate` replays the loop on labelled data: a small seed set, then rounds of `step` labels chosen
by the strategy or at random, a model retrained after each round, test accuracy recorded. The model
is the `features` strategy (the run's base encoder, frozen, and a logistic-regression head), cheap
enough to retrain every round; embeddings are computed once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from headstart.config import TrainConfig
from headstart.data.columns import check_texts, find_text_column
from headstart.data.io import read_table, write_table_atomic
from headstart.devices import Placement, small_fit_threads
from headstart.errors import ConfigError
from headstart.evaluation.plots import plot_curves
from headstart.files import write_text_atomic
from headstart.inference.predictor import ModelPredictor
from headstart.models.classifiers import load_encoder
from headstart.models.embeddings import embed_texts
from headstart.models.zoo import load_tokenizer, resolve_model
from headstart.preparation import prepare_splits
from headstart.progress import info, progress_bar
from headstart.runs import Run, load_run

METHODS = ("entropy", "margin", "random")


def uncertainty(probabilities: np.ndarray, method: str) -> np.ndarray:
    """Higher = less sure. Entropy of the distribution, or 1 − (top − second) probability."""
    if method == "entropy":
        return -(probabilities * np.log(np.clip(probabilities, 1e-12, 1.0))).sum(axis=1)
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return 1.0 - (top_two[:, 1] - top_two[:, 0])


def cluster_picks(
    embeddings: np.ndarray, candidates: Sequence[int] | np.ndarray, k: int, seed: int = 0
) -> list[int]:
    """k of the candidates, one per k-means cluster of their embeddings (the member nearest each
    centre): a batch covers different kinds of text, without the outliers farthest-first picks."""
    pool = np.asarray(candidates)
    if len(pool) <= k:
        return pool.tolist()
    points = embeddings[pool] / np.linalg.norm(embeddings[pool], axis=1, keepdims=True).clip(1e-12)
    clusters = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(points)
    picks = []
    for centre, cluster in enumerate(clusters.cluster_centers_):
        members = np.flatnonzero(clusters.labels_ == centre)
        picks.append(int(pool[members[np.argmin(((points[members] - cluster) ** 2).sum(axis=1))]]))
    return picks


def choose(
    probabilities: np.ndarray,
    embeddings: np.ndarray,
    k: int,
    method: str = "margin",
    labelled: Sequence[int] = (),
    candidates: int = 5,
    seed: int = 0,
) -> list[int]:
    """Indices of the k pool rows to label next (rows in `labelled` are never chosen)."""
    if method not in METHODS:
        raise ConfigError(f"Unknown selection '{method}'; choose one of {', '.join(METHODS)}.")
    open_rows = np.setdiff1d(np.arange(len(probabilities)), np.asarray(labelled, dtype=int))
    if method == "random":
        return sorted(
            np.random.default_rng(seed).choice(open_rows, size=min(k, len(open_rows)), replace=False).tolist()
        )
    scores = uncertainty(probabilities[open_rows], method)
    shortlist = open_rows[np.argsort(-scores)[: candidates * k]]
    return cluster_picks(embeddings, shortlist, k, seed)


def suggest(
    pool: str | Path,
    run_path: str | Path,
    k: int,
    out: str | Path,
    method: str = "margin",
    text_col: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
    candidates: int = 5,
) -> pd.DataFrame:
    """The k texts of an unlabelled file to annotate next, written as annotation tasks (item, text,
    uncertainty, predicted label): the crowd format `headstart labels aggregate` reads back once
    annotators have added their `annotator` and `label` columns."""
    if k < 1:
        raise ConfigError(f"-k must be at least 1, got {k}.")
    run = load_run(run_path, device=device, precision=precision)
    if run.task.name != "classification":
        raise ConfigError(
            f"suggest needs a single-label classification run; '{run_path}' is {run.task.name}."
        )
    frame = read_table(pool)
    source = f"'{Path(pool).name}'"
    texts = check_texts(frame[find_text_column(frame, text_col, source)], source)
    probabilities = run.predict_proba(texts)
    embeddings = run_embeddings(run, texts)
    picked = choose(probabilities, embeddings, k, method, candidates=candidates, seed=run.config.seed)
    item_col = next((c for c in frame.columns if str(c).lower() in ("item", "item_id", "id")), None)
    items = frame[item_col].astype(str).tolist() if item_col else [str(i) for i in frame.index]
    tasks = pd.DataFrame(
        {
            "item": [items[i] for i in picked],
            "text": [texts[i] for i in picked],
            "uncertainty": np.round(
                uncertainty(probabilities[picked], "margin" if method == "random" else method), 4
            ),
            "predicted": [run.labels[j] for j in probabilities[picked].argmax(axis=1)],
        }
    )
    write_table_atomic(tasks, out)
    return tasks


def run_embeddings(run: Run, texts: list[str]) -> np.ndarray:
    """Mean-pooled embeddings from the run's own encoder (what its predictions rest on)."""
    predictor = run.predictor
    classifier = getattr(predictor, "classifier", None)
    encoder = getattr(classifier, "encoder", None) or getattr(
        getattr(classifier, "model", None), "base_model", None
    )
    if encoder is None or not isinstance(predictor, ModelPredictor):
        raise ConfigError(
            "suggest needs one run's fp32 model (its encoder gives the embeddings for diversity); "
            "pass a single run, not an ensemble or a quantised variant."
        )
    max_length = predictor.window.max_length
    pool = embed_texts(
        encoder, predictor.tokenizer, texts, max_length, "Embedding the pool", placement=predictor.placement
    )
    return pool.numpy()


def simulate(
    data: str | Path | None = None,
    *,
    out: str | Path,
    dataset: str | None = None,
    model: str = "minilm-l6",
    method: str = "margin",
    seeds: int = 3,
    start: int = 20,
    step: int = 20,
    budget: float = 0.3,
    c: float = 1.0,
    **options: Any,
) -> pd.DataFrame:
    """Replay active learning against random choice on labelled data; writes simulation.csv/.md/.png
    into `out` and returns the accuracy at every budget, per method and seed."""
    if method == "random":
        raise ConfigError("--method random is the baseline every simulation runs; choose margin or entropy.")
    if seeds < 1 or step < 1 or start < 2 or not 0 < budget <= 1:
        raise ConfigError(
            f"The simulation needs --seeds ≥ 1, --step ≥ 1, a seed set ≥ 2 and 0 < --budget ≤ 1; "
            f"got seeds={seeds}, step={step}, start={start}, budget={budget}."
        )
    config = TrainConfig(data=None if data is None else str(data), dataset=dataset, model=model, **options)
    pool = _embedded_pool(config, c)
    full, _ = pool.accuracy(list(range(len(pool.y))))
    budgets = list(range(start, int(budget * len(pool.y)) + 1, step))
    if len(budgets) < 2:
        raise ConfigError(
            f"--budget {budget} of a {len(pool.y)}-text pool leaves no round after the seed set of "
            f"{start}; raise --budget or lower --step."
        )
    rows = []
    with progress_bar("Simulating", total=2 * seeds * len(budgets)) as bar:
        for seed in range(seeds):
            initial = pool.seed_set(start, seed)  # the same for both choosers
            for chooser in (method, "random"):
                rows += pool.replay(chooser, initial, budgets, seed)
                bar.advance(len(budgets))
    result = pd.DataFrame(rows)
    write_simulation(Path(out), result, full, method, model, len(pool.y))
    return result


@dataclass
class _Pool:
    """The embedded pool and held-out texts; a logistic-regression head refitted on any labelled rows."""

    x: np.ndarray  # pool embeddings, for the diversity of picks
    z: np.ndarray  # the same standardised, for the head
    y: np.ndarray
    test_z: np.ndarray
    test_y: np.ndarray
    classes: int
    c: float

    def accuracy(self, rows: Sequence[int]) -> tuple[float, np.ndarray]:
        """Held-out accuracy of a head fitted on `rows`, and its probabilities for the whole pool."""
        with small_fit_threads(len(rows) * self.z.shape[1]):
            head = LogisticRegression(C=self.c, max_iter=3000).fit(self.z[rows], self.y[rows])
        probabilities = np.zeros((len(self.z), self.classes))
        probabilities[:, head.classes_] = head.predict_proba(self.z)
        return float((head.predict(self.test_z) == self.test_y).mean()), probabilities

    def seed_set(self, size: int, seed: int) -> list[int]:
        """A few rows of every class, so every class is known from the start."""
        rng = np.random.default_rng(seed)
        per_class = max(1, size // self.classes)
        return sorted(
            int(i)
            for label in range(self.classes)
            for i in rng.choice(np.flatnonzero(self.y == label), size=per_class, replace=False)
        )

    def replay(self, chooser: str, initial: list[int], budgets: list[int], seed: int) -> list[dict[str, Any]]:
        """Rounds of labels chosen by `chooser` up to each budget, with the accuracy after each."""
        labelled = list(initial)
        score, probabilities = self.accuracy(labelled)
        rows = []
        for size in budgets:
            if len(labelled) < size:
                labelled += choose(
                    probabilities, self.x, size - len(labelled), chooser, labelled, seed=seed * 10_007 + size
                )
                score, probabilities = self.accuracy(labelled)
            rows.append(
                {
                    "method": chooser,
                    "seed": seed,
                    "labels": len(labelled),
                    "fraction": round(len(labelled) / len(self.y), 4),
                    "accuracy": score,
                }
            )
        return rows


def _embedded_pool(config: TrainConfig, c: float) -> _Pool:
    """The train split as the pool, dev and test as held-out texts (nothing is tuned on dev here,
    so dev joins test: more texts, less noise), embedded once with the frozen encoder."""
    splits = prepare_splits(config)
    if splits.task != "classification":
        raise ConfigError(f"The simulation needs single-label classes; this data is {splits.task}.")
    path, placement = resolve_model(config.model), Placement.of(config.device, config.precision)
    tokenizer, encoder = load_tokenizer(path), load_encoder(path).eval().to(placement.device)
    max_length = config.max_length or 256
    pool_x, test_x = (
        embed_texts(
            encoder, tokenizer, texts, max_length, f"Embedding the {name}", placement=placement
        ).numpy()
        for texts, name in (
            (splits.train.texts, "pool"),
            (splits.dev.texts + splits.test.texts, "held-out texts"),
        )
    )
    classes = splits.labels
    scaler = StandardScaler().fit(pool_x)
    return _Pool(
        pool_x,
        scaler.transform(pool_x),
        np.array([classes.index(label) for label in splits.train.labels]),
        scaler.transform(test_x),
        np.array([classes.index(label) for label in splits.dev.labels + splits.test.labels]),
        len(classes),
        c,
    )


def write_simulation(
    out: Path, result: pd.DataFrame, full: float, method: str, model: str, pool: int
) -> None:
    """simulation.csv, summary.json, simulation.md and simulation.png."""
    out.mkdir(parents=True, exist_ok=True)
    write_table_atomic(result, out / "simulation.csv")
    curve = result.groupby(["method", "labels"])["accuracy"].agg(["mean", "std"]).reset_index()
    wide = curve.pivot(index="labels", columns="method", values="mean")
    reached = wide.index[wide[method] >= 0.98 * full]
    summary = {
        "pool": pool,
        "full_data_accuracy": full,
        "method": method,
        "model": model,
        "seeds": int(result.seed.nunique()),
        "labels_for_98_percent": None if reached.empty else int(reached[0]),
        "fraction_for_98_percent": None if reached.empty else round(int(reached[0]) / pool, 4),
        "above_random_at_every_budget": bool((wide[method] > wide["random"]).iloc[1:].all()),
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    lines = [f"| labels | % of pool | {method} | random |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {n} | {100 * n / pool:.1f} | {row[method]:.4f} | {row['random']:.4f} |"
        for n, row in wide.iterrows()
    ]
    write_text_atomic(
        out / "simulation.md",
        "\n".join(lines) + f"\n\nFull data ({pool} labels): held-out accuracy {full:.4f}.\n",
    )
    plot_curves(
        curve.rename(columns={"method": "series", "labels": "x"}),
        out / "simulation.png",
        title=f"Active learning ({method} + clusters) against random, {model}",
        xlabel="labelled examples",
        ylabel="test accuracy",
        lines={"full data": full, "98 % of full data": 0.98 * full},
    )
    info(
        f"Full data {full:.4f}; {method} reaches 98 % of it with {summary['labels_for_98_percent']} labels; "
        f"above random at every budget: {summary['above_random_at_every_budget']}"
    )
