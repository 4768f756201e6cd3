"""Aggregation methods on simulated crowds built from BBC News gold labels.

    python benchmarks/crowd_bbc.py

Every article gets 5 answers from distinct annotators of a pool of 40: good (85-95 % right),
noisy (55-70 %, 30 % of the pool) and spammers (the share varies; half answer at random, half
always give one label). Prints the accuracy of each method's labels against the gold labels.
crowdlab also reads the articles: a `features` model (MiniLM, 128 tokens) scores each one out of
fold, trained on the majority vote; its time includes that model's.
"""

from __future__ import annotations

import time

from headstart.config import TrainConfig
from headstart.data.bundled import load_bundled
from headstart.labels.aggregate import METHODS, accuracy_against, aggregate
from headstart.labels.simulate import simulate_crowd
from headstart.workflows.consensus import model_probabilities

MODEL = TrainConfig(dataset="bbc-news", strategy="features", max_length=128)


def main() -> None:
    bbc = load_bundled("bbc-news")
    gold = bbc["label"].set_axis(bbc.index.astype(str))
    texts = bbc["text"].set_axis(bbc.index.astype(str))
    print(f"BBC News, {len(gold)} articles, 5 answers each; accuracy of the aggregated labels (seconds)\n")
    print("| spammers | Krippendorff's α | " + " | ".join(METHODS) + " |")
    print("|" + " --- |" * (2 + len(METHODS)))
    for share in (0.1, 0.3, 0.5):
        answers, _ = simulate_crowd(gold, per_item=5, spammers=share, seed=0)
        answers["text"] = answers["task"].map(texts)
        cells, alpha = [], None
        for method in METHODS:
            started = time.perf_counter()
            scored = model_probabilities(answers, MODEL) if method == "crowdlab" else None
            result = aggregate(answers, method, model_probabilities=scored)
            cells.append(f"{accuracy_against(result, gold):.3f} ({time.perf_counter() - started:.0f} s)")
            alpha = result.agreement["krippendorff_alpha"]
        print(f"| {share:.0%} | {alpha:.3f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
