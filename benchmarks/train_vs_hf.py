"""headstart `finetune` against a plain `transformers.Trainer`: same data, model and hyper-parameters.

Each system trains in its own process, one after the other, on the same BBC News train/dev/test
files (seeded stratified split; a stratified subset of the train split keeps the run short).
Two Trainer set-ups are measured:
  - "HF Trainer (plain)": the usual recipe — tokenizer(truncation=True), i.e. the tokenizer's
    model_max_length, DataCollatorWithPadding, random batches;
  - "HF Trainer (tuned)": truncated at the length headstart chose and with the Trainer's own
    length grouping (train_sampling_strategy="group_by_length"): what a Trainer expert would set.
Samples/s = training samples × epochs / wall time of the training call (per-epoch dev evaluation
and checkpointing included for every system).

    python benchmarks/train_vs_hf.py [--train-size 600] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HYPER = {
    "lr": 1e-4,
    "batch_size": 16,
    "weight_decay": 0.01,
    "warmup_ratio": 0.1,
    "max_grad_norm": 1.0,
    "seed": 42,
}


def prepare(folder: Path, train_size: int) -> None:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from headstart.data.dataset import load_splits

    splits = load_splits(dataset="bbc-news", seed=HYPER["seed"])
    train = pd.DataFrame({"text": splits.train.texts, "label": splits.train.labels})
    if train_size < len(train):
        train, _ = train_test_split(
            train, train_size=train_size, stratify=train.label, random_state=HYPER["seed"]
        )
    train.to_csv(folder / "train.csv", index=False)
    for name, part in (("dev", splits.dev), ("test", splits.test)):
        pd.DataFrame({"text": part.texts, "label": part.labels}).to_csv(folder / f"{name}.csv", index=False)


def run_headstart(folder: Path, epochs: int) -> dict:
    import headstart
    from headstart.progress import set_quiet

    set_quiet(True)
    run = headstart.train(
        folder / "train.csv",
        dev_data=str(folder / "dev.csv"),
        test_data=str(folder / "test.csv"),
        out=folder / "headstart-run",
        overwrite=True,
        strategy="finetune",
        model="minilm-l6",
        epochs=epochs,
        patience=0,
        checkpoint_every=0,
        **HYPER,
    )
    samples = run.metrics["data"]["train"] * len(run.metrics["training"]["history"])
    return {
        "seconds": run.metrics["cost"]["train_seconds"],
        "samples": samples,
        "accuracy": run.metrics["test"]["accuracy"],
        "max_length": run.config.max_length,
    }


def run_hf(folder: Path, epochs: int, max_length: int | None) -> dict:
    """max_length None: the plain recipe; otherwise truncate there and group batches by length."""
    import numpy as np
    import pandas as pd
    from datasets import Dataset
    from sklearn.metrics import f1_score
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from headstart.models.zoo import resolve_model

    path = resolve_model("minilm-l6")
    frames = {name: pd.read_csv(folder / f"{name}.csv") for name in ("train", "dev", "test")}
    labels = sorted(frames["train"].label.unique())
    tokenizer = AutoTokenizer.from_pretrained(path)

    def tokenize(batch: dict) -> dict:
        options = (
            {"truncation": True} if max_length is None else {"truncation": True, "max_length": max_length}
        )
        encoded = tokenizer(batch["text"], **options)
        encoded["labels"] = [labels.index(label) for label in batch["label"]]
        return encoded

    data = {
        name: Dataset.from_pandas(frame).map(tokenize, batched=True, remove_columns=["text", "label"])
        for name, frame in frames.items()
    }
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    args = TrainingArguments(
        output_dir=str(folder / "hf-out"),
        learning_rate=HYPER["lr"],
        per_device_train_batch_size=HYPER["batch_size"],
        per_device_eval_batch_size=64,
        num_train_epochs=epochs,
        weight_decay=HYPER["weight_decay"],
        warmup_steps=HYPER["warmup_ratio"],
        max_grad_norm=HYPER["max_grad_norm"],
        seed=HYPER["seed"],
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        logging_strategy="no",
        train_sampling_strategy="random" if max_length is None else "group_by_length",
    )

    def macro_f1(p):
        return {"macro_f1": f1_score(p.label_ids, np.argmax(p.predictions, axis=1), average="macro")}

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["dev"],
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=macro_f1,
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    predictions = trainer.predict(data["test"])
    accuracy = float((np.argmax(predictions.predictions, axis=1) == predictions.label_ids).mean())
    return {
        "seconds": round(seconds, 2),
        "samples": len(data["train"]) * epochs,
        "accuracy": accuracy,
        "max_length": max_length or tokenizer.model_max_length,
    }


def worker(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    if args.worker == "headstart":
        result = run_headstart(folder, args.epochs)
    else:
        result = run_hf(folder, args.epochs, args.max_length)
    print("RESULT " + json.dumps(result))


def launch(folder: Path, epochs: int, system: str, max_length: int | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", system, "--folder", str(folder), "--epochs", str(epochs)]
    if max_length:
        command += ["--max-length", str(max_length)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{system} failed:\n{done.stderr[-3000:]}")
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    result["samples_per_second"] = result["samples"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--train-size",
        type=int,
        default=600,
        help="Training examples (stratified subset of the train split).",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--max-length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    with tempfile.TemporaryDirectory(prefix="headstart-bench-") as tmp:
        folder = Path(tmp)
        prepare(folder, args.train_size)
        print(
            f"BBC News, {args.train_size} training texts, {args.epochs} "
            f"epochs, all-MiniLM-L6-v2, hyper-parameters {HYPER}"
        )
        results = {"headstart finetune": launch(folder, args.epochs, "headstart")}
        print("headstart finetune:", results["headstart finetune"], flush=True)
        results["HF Trainer (plain)"] = launch(folder, args.epochs, "hf")
        print("HF Trainer (plain):", results["HF Trainer (plain)"], flush=True)
        results["HF Trainer (tuned)"] = launch(
            folder, args.epochs, "hf", results["headstart finetune"]["max_length"]
        )

    ours = results["headstart finetune"]
    print(
        "\n| system | max length | train samples/s | headstart "
        "ratio | test accuracy |\n| --- | --- | --- | --- | --- |"
    )
    for name, result in results.items():
        ratio = ours["samples_per_second"] / result["samples_per_second"]
        print(
            f"| {name} | {result['max_length']} | {result['samples_per_second']:.2f} "
            f"| {ratio:.2f}x | {result['accuracy']:.4f} |"
        )
    plain = results["HF Trainer (plain)"]
    print(
        "\nheadstart / HF Trainer (plain): "
        f"{ours['samples_per_second'] / plain['samples_per_second']:.2f}x samples/s, "
        f"test accuracy {ours['accuracy']:.4f} vs {plain['accuracy']:.4f} "
        f"({100 * (ours['accuracy'] - plain['accuracy']):+.2f} points)"
    )


if __name__ == "__main__":
    main()
