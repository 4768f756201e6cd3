"""Sentence pairs and multi-label data built from BBC News, where no packaged dataset exists.

    python benchmarks/derived_tasks_bbc.py [--out runs/derived] [--strategy features]

How the data is built (seeded, from the 2,127 deduplicated articles; each article's first 60 words):
- pairs: two different articles, labelled `same` when they share a topic, else `different`
  (balanced, 2,000 pairs);
- multi-label: half the texts are one article (one label), half are two articles of different
  topics joined (two labels); 2,000 texts.
Articles are split into disjoint train / test pools first, so no test text reuses a training article.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import pandas as pd

import headstart
from headstart.data.bundled import load_bundled
from headstart.progress import quiet_libraries


def first_words(text: str, count: int = 60) -> str:
    return " ".join(text.split()[:count])


def pair_rows(articles: pd.DataFrame, count: int, rng: random.Random) -> list[dict]:
    by_topic = {topic: group.text.tolist() for topic, group in articles.groupby("label")}
    topics = sorted(by_topic)
    rows = []
    for index in range(count):
        same = index % 2 == 0
        first_topic = rng.choice(topics)
        second_topic = first_topic if same else rng.choice([t for t in topics if t != first_topic])
        first, second = (
            rng.sample(by_topic[first_topic], 2)
            if same
            else (rng.choice(by_topic[first_topic]), rng.choice(by_topic[second_topic]))
        )
        rows.append(
            {
                "text": first_words(first),
                "text_pair": first_words(second),
                "label": "same" if same else "different",
            }
        )
    return rows


def multi_label_rows(articles: pd.DataFrame, count: int, rng: random.Random) -> list[dict]:
    records = articles.to_dict("records")
    rows = []
    for index in range(count):
        if index % 2 == 0:
            article = rng.choice(records)
            rows.append({"text": first_words(article["text"]), "labels": [article["label"]]})
        else:
            first = rng.choice(records)
            second = rng.choice([r for r in records if r["label"] != first["label"]])
            rows.append(
                {
                    "text": first_words(first["text"], 30) + " " + first_words(second["text"], 30),
                    "labels": sorted([first["label"], second["label"]]),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/derived"))
    parser.add_argument("--strategy", default="features")
    args = parser.parse_args()
    quiet_libraries()
    rng = random.Random(42)
    articles = load_bundled("bbc-news").sample(frac=1.0, random_state=42)
    cut = int(0.8 * len(articles))
    pools = {"train": articles.iloc[:cut], "test": articles.iloc[cut:]}
    args.out.mkdir(parents=True, exist_ok=True)
    for task, build in (("pairs", pair_rows), ("multi-label", multi_label_rows)):
        files = {}
        for name, size in (("train", 1600), ("test", 400)):
            files[name] = args.out / f"{task}-{name}.jsonl"
            files[name].write_text(
                "\n".join(json.dumps(row) for row in build(pools[name], size, rng)), encoding="utf-8"
            )
        run = headstart.train(
            files["train"],
            test_data=str(files["test"]),
            out=args.out / task,
            strategy=args.strategy,
            max_length=128,
            overwrite=True,
        )
        scalars = {k: round(v, 4) for k, v in run.metrics["test"].items() if isinstance(v, float)}
        print(
            f"{task} ({args.strategy}, {run.metrics['data']['train']} "
            f"train / {run.metrics['data']['test']} test): {scalars}"
        )


if __name__ == "__main__":
    main()
