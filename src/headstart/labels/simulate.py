"""Simulated crowds from known labels: for tests and benchmarks of aggregation methods.

Each item gets answers from distinct annotators drawn from a pool. Annotators are good (right
85-95 % of the time), noisy (55-70 %) or spammers; half the spammers answer at random, half
always give the same label. Wrong answers are drawn uniformly from the other classes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_crowd(
    gold: pd.Series,
    per_item: int = 5,
    pool: int = 40,
    spammers: float = 0.3,
    noisy: float = 0.3,
    seed: int = 0,
    answered: pd.DataFrame | None = None,
    round_seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Answers (task, worker, label) for items `gold` (item id → label), and the annotators.

    The pool of annotators depends on (pool, spammers, noisy, seed) only. A later round on the same
    pool takes another `round_seed` and the earlier answers as `answered`, whose annotators are not
    asked the same item again."""
    classes = sorted(gold.astype(str).unique())
    if len(classes) < 2 or per_item > pool:
        raise ValueError(
            f"a crowd needs 2+ classes and per_item <= pool; got {len(classes)} classes, {per_item} > {pool}"
        )
    annotators = _pool(classes, pool, spammers, noisy, np.random.default_rng(seed))
    rng = np.random.default_rng([seed, round_seed])
    done = answered.groupby("task")["worker"].agg(set).to_dict() if answered is not None else {}
    rows = []
    for item, truth in gold.astype(str).items():
        free = [i for i, worker in enumerate(annotators.worker) if worker not in done.get(str(item), set())]
        for index in rng.choice(free, size=min(per_item, len(free)), replace=False):
            annotator = annotators.iloc[index]
            if annotator.kind == "random spammer":
                answer = rng.choice(classes)
            elif annotator.kind == "constant spammer":
                answer = annotator.constant
            elif rng.random() < annotator.accuracy:
                answer = truth
            else:
                answer = rng.choice([c for c in classes if c != truth])
            rows.append({"task": str(item), "worker": annotator.worker, "label": answer})
    return pd.DataFrame(rows), annotators


def _pool(
    classes: list[str], pool: int, spammers: float, noisy: float, rng: np.random.Generator
) -> pd.DataFrame:
    spam_count, noisy_count = round(pool * spammers), round(pool * noisy)
    kinds = ["random spammer"] * (spam_count - spam_count // 2) + ["constant spammer"] * (spam_count // 2)
    kinds += ["noisy"] * noisy_count + ["good"] * (pool - spam_count - noisy_count)
    return pd.DataFrame(
        {
            "worker": [f"a{i:03d}" for i in range(pool)],
            "kind": kinds,
            "accuracy": [
                rng.uniform(0.85, 0.95) if k == "good" else rng.uniform(0.55, 0.7) if k == "noisy" else np.nan
                for k in kinds
            ],
            "constant": [rng.choice(classes) for _ in kinds],
        }
    )
