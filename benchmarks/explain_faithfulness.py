"""Faithfulness of `headstart explain` on BBC News: for each method, the mean drop of the
predicted label's probability after erasing the k highest-scored words against erasing k random
words the model reads (k = 1, 3, 5, 10; AOPC is the mean over k), on test texts no run saw.

    python benchmarks/explain_faithfulness.py [--texts 200]

Runs: `finetune` (2 epochs, no refit) explained by Integrated Gradients and by occlusion, and
`features` by occlusion; MiniLM, 128 tokens, a seeded 80/20 split. With `--map FILE.html`, it
also draws `headstart map` of the `features` run on the held-out texts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import headstart
from headstart.data.bundled import load_bundled
from headstart.progress import quiet_libraries
from headstart.workflows.embedding_map import embedding_map
from headstart.workflows.explain import faithfulness

OPTIONS = {"max_length": 128, "refit": "no"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--map", type=Path, help="draw the features run's map of the held-out texts here")
    args = parser.parse_args()
    quiet_libraries()
    bbc = load_bundled("bbc-news")
    test = bbc.sample(frac=0.2, random_state=0)
    folder = Path(tempfile.mkdtemp(prefix="headstart-explain-"))
    bbc.drop(test.index).to_csv(folder / "train.csv", index=False)
    runs = {
        "finetune": headstart.train(
            folder / "train.csv", out=folder / "finetune", strategy="finetune", epochs=2, **OPTIONS
        ),
        "features": headstart.train(
            folder / "train.csv", out=folder / "features", strategy="features", **OPTIONS
        ),
    }
    texts = test["text"].tolist()
    if args.map:
        drawn = embedding_map(runs["features"], test[["text", "label"]], args.map, show_progress=False)
        print(f"map: {drawn['texts']} texts, {drawn['misclassified']} misclassified, {drawn['method']}\n")
    print(f"BBC News, {args.texts} test texts, MiniLM at 128 tokens\n")
    print(
        "| run | method | drop, top-k words (k = 1, 3, 5, 10) | drop, k random words "
        "| AOPC top | AOPC random | seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, method in (("finetune", "ig"), ("finetune", "occlusion"), ("features", "occlusion")):
        started = time.perf_counter()
        found = faithfulness(runs[name], texts, method, sample=args.texts)
        seconds = time.perf_counter() - started
        top, random = (" / ".join(f"{d:.3f}" for d in found[key]) for key in ("top_k_drop", "random_k_drop"))
        print(
            f"| {name} | {method} | {top} | {random} | {found['aopc_top']:.3f} | {found['aopc_random']:.3f} "
            f"| {seconds:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
