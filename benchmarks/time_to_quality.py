"""Time to a good model: headstart's strategies with their defaults against what a user would run
otherwise, each as a whole process (imports and model load included), interleaved seed by seed.

Datasets (each: one labelled file, one separate test file, stratified and seeded):
  - bbc: BBC News articles (5 topics), MiniLM-L6;
  - bbc-titles: a short-text set built from the packaged BBC News: each article's first line (its
    title, 5-15 words) with the article's topic, MiniLM-L6;
  - zh-inews: Chinese news sentiment (3 classes; its own train and test splits), multilingual-e5-small.
Systems: headstart tfidf and bigru (the baselines without transfer: the tokenizer's 1-2-grams, a
bidirectional GRU over its tokens with the encoder's input embeddings), static (model2vec's
classifier trained on a static model distilled from the encoder), features, finetune, lora, setfit
(8 labelled texts per class), all with headstart's defaults, and finetune with the peers' epochs and
learning rate (the throughput row, against the tuned Trainer), once as it is and once with
`--freeze-layers 1`; transformers.Trainer plain (the tokenizer's own truncation, random batches,
every labelled row) and tuned (headstart's max length and group_by_length). Where the CPU
multiplies bf16 natively (headstart's `--mixed-precision auto` then trains in bf16), two more rows
show what that part is worth: headstart's throughput row in fp32 (`--mixed-precision no`) and the
tuned Trainer with `bf16=True`. Then the setfit library (8
per class); model2vec's own classifier on a model2vec model distilled from the same encoder; TF-IDF
+ logistic regression (word 1-2-grams; character 1-2-grams for Chinese, which has no spaces). The
peers and the throughput row use epochs 3, batch 16, lr 5e-5 (headstart's defaults: epochs 4, batch
16, lr 1e-4, epochs chosen on dev). The finetune rows, static, features, model2vec's classifier
and both Trainers run `--seeds` seeds. Training is also given as GFLOP/s (6 × non-embedding
parameters × tokens per second) and as a fraction of this machine's fp32 matmul peak, measured in
the same run. A system whose process the kernel kills (out of memory) gets a row that says so and
the run goes on; any other failure stops it.

    python benchmarks/time_to_quality.py [--datasets bbc,bbc-titles,zh-inews] [--seeds 3] [--write]
    python benchmarks/time_to_quality.py --seeds 2 --first-seed 43  # more seeds for an earlier run
    python benchmarks/time_to_quality.py --from-log LOG [--from-log LOG ...]  # tables from logged runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HYPER = {"epochs": 3, "batch_size": 16, "lr": 5e-5}
SIZES = {"bbc": (400, 400), "bbc-titles": (1000, 500), "zh-inews": (400, 300)}  # labelled, test rows
MODELS = {"bbc": "minilm-l6", "bbc-titles": "minilm-l6", "zh-inews": "multilingual-e5-small"}
PEER_SETTINGS = "headstart finetune, peers' settings"
# The same with the embeddings and the bottom layer frozen, its outputs computed once (--freeze-layers).
FROZEN_PEER = "headstart finetune --freeze-layers 1, peers' settings"
FROZEN_LAYERS = 1
# On a CPU with native bf16 only (where headstart's default trains in bf16): that part's worth.
FP32_PEER = "headstart finetune --mixed-precision no, peers' settings"
BF16_TRAINER = "Trainer tuned, bf16"
BF16_ROWS = (FP32_PEER, BF16_TRAINER)
# Run with every seed (the accuracy, throughput and static targets); the others with the first.
SEEDED = (
    "headstart static",
    "headstart features",
    "model2vec classifier",  # the static tier's peer
    "headstart finetune",
    PEER_SETTINGS,
    FROZEN_PEER,
    FP32_PEER,
    "Trainer plain",
    "Trainer tuned",
    BF16_TRAINER,
)
SYSTEMS = (
    "headstart tfidf",
    "headstart bigru",
    "headstart static",
    "headstart features",
    "headstart finetune",
    PEER_SETTINGS,
    FROZEN_PEER,
    FP32_PEER,
    "headstart lora",
    "headstart setfit",
    "Trainer plain",
    "Trainer tuned",
    BF16_TRAINER,
    "setfit library",
    "model2vec classifier",
    "TF-IDF + LR",
)
RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "time-to-quality.md"


def prepare(dataset: str, folder: Path, seed: int = 42) -> None:
    """labelled.csv and test.csv of a dataset (see the module docstring)."""
    from sklearn.model_selection import train_test_split

    import headstart

    frame = headstart.load_dataset("zh-inews" if dataset == "zh-inews" else "bbc-news")
    labelled_rows, test_rows = SIZES[dataset]
    if dataset == "bbc-titles":
        frame = frame.assign(text=frame.text.str.split("\n").str[0].str.strip())
    if "split" in frame:  # zh-inews: its own splits
        pool, test = frame[frame.split != "test"], frame[frame.split == "test"]
    else:
        pool, test = train_test_split(frame, test_size=test_rows, stratify=frame.label, random_state=seed)
    labelled, _ = train_test_split(pool, train_size=labelled_rows, stratify=pool.label, random_state=seed)
    test, _ = (
        (test, None)
        if len(test) <= test_rows
        else train_test_split(test, train_size=test_rows, stratify=test.label, random_state=seed)
    )
    labelled[["text", "label"]].to_csv(folder / "labelled.csv", index=False)
    test[["text", "label"]].to_csv(folder / "test.csv", index=False)


def scores(truth: list[str], predicted: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro"),
    }


def run_headstart(folder: Path, system: str, model: str, seed: int, extra: dict) -> dict:
    import headstart
    from headstart.progress import set_quiet

    set_quiet(True)
    strategy = system.split()[1].rstrip(",")
    peer_settings = system in (PEER_SETTINGS, FROZEN_PEER, FP32_PEER)
    frozen = {"freeze_layers": FROZEN_LAYERS} if system == FROZEN_PEER else {}
    fp32 = {"mixed_precision": "no"} if system == FP32_PEER else {}
    options: dict = {**(HYPER if peer_settings else {}), **frozen, **fp32, **extra}
    if strategy == "setfit":
        options["shots"] = 8
    run = headstart.train(
        folder / "labelled.csv",
        test_data=str(folder / "test.csv"),
        out=folder / f"run-{strategy}{'-peer' if peer_settings else ''}{'-frozen' if frozen else ''}"
        f"{'-fp32' if fp32 else ''}-{seed}",
        overwrite=True,
        strategy=strategy,
        model=model,
        seed=seed,
        checkpoint_every=0,
        **options,
    )
    cost, training = run.metrics["cost"], run.metrics["training"]
    result = {
        "accuracy": run.metrics["test"]["accuracy"],
        "macro_f1": run.metrics["test"]["macro_f1"],
        "train_seconds": cost["train_seconds"],
        "train_samples_per_second": cost["train_samples_per_second"],
        "max_length": run.config.max_length,
        "mixed_precision": run.config.mixed_precision,  # what `auto` resolved to on this machine
    }
    if peer_settings:
        result["train_gflops_per_second"] = training_gflops(run, folder, cost["train_samples_per_second"])
    if strategy == "static":
        import pandas as pd

        test = pd.read_csv(folder / "test.csv").text
        # Short texts: the first 12 words, or 24 characters of Chinese (no spaces between words; its
        # spaces part sentences, so splitting at them gave ~700-character "titles" before 2026-12-07).
        chinese = test.str.count(r"[\u4e00-\u9fff]").sum() > test.str.len().sum() / 2
        titles = (test.str[:24] if chinese else test.str.split().str[:12].str.join(" ")).tolist()
        texts = (titles * (20_000 // len(titles) + 1))[:20_000]
        run.predict(texts[:200], show_progress=False)
        started = time.perf_counter()
        run.predict(texts, show_progress=False)
        result["short_texts_per_second"] = len(texts) / (time.perf_counter() - started)
        first_fit = training.get("refit", {}).get("first_fit", {})  # the refit reuses its static model
        result["static_model_seconds"] = sum(
            part["static"]["static_model_seconds"] for part in (training, first_fit) if "static" in part
        )
    return result


def training_gflops(run, folder: Path, samples_per_second: float) -> float:
    """Useful training work per second: 6 FLOPs per non-embedding weight per token (forward and
    backward) of the layers a step computes (not those --freeze-layers computed once), over the
    labelled texts' token counts at the run's max length (padding not counted)."""
    import pandas as pd

    texts = pd.read_csv(folder / "labelled.csv").text.tolist()
    tokens = run.predictor.tokenizer(texts, truncation=True, max_length=run.config.max_length)["input_ids"]
    encoder = run.predictor.classifier.model.base_model
    weights = sum(p.numel() for p in encoder.parameters()) - sum(
        p.numel() for p in encoder.embeddings.parameters()
    )
    layers = encoder.config.num_hidden_layers
    computed = (layers - run.config.freeze_layers) / layers
    mean_tokens = sum(map(len, tokens)) / len(tokens)
    return 6 * weights * computed * mean_tokens * samples_per_second / 1e9


def matmul_peak_gflops(size: int = 2048, repeats: int = 10) -> float:
    """This machine's fp32 matmul rate (the best of `repeats` products of two size × size matrices)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def run_trainer(folder: Path, model: str, seed: int, max_length: int | None, bf16: bool = False) -> dict:
    """max_length None: the plain recipe; else truncate there and group batches by length. bf16:
    mixed precision (autocast), as headstart's default on a CPU with native bf16."""
    import numpy as np
    import pandas as pd
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from headstart.models.zoo import resolve_model

    path = resolve_model(model)
    frames = {name: pd.read_csv(folder / f"{name}.csv") for name in ("labelled", "test")}
    labels = sorted(frames["labelled"].label.unique())
    tokenizer = AutoTokenizer.from_pretrained(path)
    length = {} if max_length is None else {"max_length": max_length}

    def tokenize(batch: dict) -> dict:
        encoded = tokenizer(batch["text"], truncation=True, **length)
        encoded["labels"] = [labels.index(label) for label in batch["label"]]
        return encoded

    data = {
        name: Dataset.from_pandas(frame).map(tokenize, batched=True, remove_columns=["text", "label"])
        for name, frame in frames.items()
    }
    model_ = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    args = TrainingArguments(
        output_dir=str(folder / "hf-out"),
        learning_rate=HYPER["lr"],
        per_device_train_batch_size=HYPER["batch_size"],
        per_device_eval_batch_size=64,
        num_train_epochs=HYPER["epochs"],
        seed=seed,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=bf16,
        disable_tqdm=True,
        logging_strategy="no",
        train_sampling_strategy="random" if max_length is None else "group_by_length",
    )
    trainer = Trainer(
        model=model_,
        args=args,
        train_dataset=data["labelled"],
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    # With group_by_length, transformers 5 also length-groups (and shuffles) the rows it predicts:
    # the predictions come back in that order, so the truth is read from the same output.
    output = trainer.predict(data["test"])
    predicted, truth = np.argmax(output.predictions, axis=1), output.label_ids
    return {
        **scores([labels[i] for i in truth], [labels[i] for i in predicted]),
        "train_seconds": seconds,
        "train_samples_per_second": len(frames["labelled"]) * HYPER["epochs"] / seconds,
        "max_length": max_length or tokenizer.model_max_length,
    }


def run_setfit(folder: Path, model: str, seed: int) -> dict:
    import pandas as pd
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from headstart.models.zoo import resolve_model

    labelled, test = pd.read_csv(folder / "labelled.csv"), pd.read_csv(folder / "test.csv")
    few = labelled.groupby("label", group_keys=False).sample(n=8, random_state=seed)
    model_ = SetFitModel.from_pretrained(str(resolve_model(model)))
    trainer = Trainer(
        model=model_,
        args=TrainingArguments(output_dir=str(folder / "setfit-out"), seed=seed, show_progress_bar=False),
        train_dataset=Dataset.from_pandas(few[["text", "label"]], preserve_index=False),
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    predicted = [str(p) for p in model_.predict(test.text.tolist())]
    return {
        **scores(test.label.tolist(), predicted),
        "train_seconds": seconds,
        "train_samples_per_second": None,
    }


def run_model2vec(folder: Path, model: str, seed: int) -> dict:
    import pandas as pd
    from model2vec.distill import distill
    from model2vec.train import StaticModelForClassification

    from headstart.models.zoo import resolve_model

    labelled, test = pd.read_csv(folder / "labelled.csv"), pd.read_csv(folder / "test.csv")
    static = distill(model_name=str(resolve_model(model)), pca_dims=256)
    started = time.perf_counter()
    classifier = StaticModelForClassification.from_static_model(model=static)
    classifier.fit(labelled.text.tolist(), labelled.label.tolist(), random_seed=seed)
    seconds = time.perf_counter() - started
    predicted = [str(p) for p in classifier.predict(test.text.tolist())]
    return {
        **scores(test.label.tolist(), predicted),
        "train_seconds": seconds,
        "train_samples_per_second": None,
    }


def run_tfidf(folder: Path, chinese: bool) -> dict:
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    labelled, test = pd.read_csv(folder / "labelled.csv"), pd.read_csv(folder / "test.csv")
    words = {"analyzer": "char", "ngram_range": (1, 2)} if chinese else {"ngram_range": (1, 2)}
    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, **words), LogisticRegression(max_iter=2000))
    started = time.perf_counter()
    pipeline.fit(labelled.text, labelled.label)
    seconds = time.perf_counter() - started
    return {
        **scores(test.label.tolist(), list(pipeline.predict(test.text))),
        "train_seconds": seconds,
        "train_samples_per_second": len(labelled) / seconds,
    }


def worker(args: argparse.Namespace) -> None:
    folder, system, model, seed = Path(args.folder), args.worker, args.model, args.seed
    if system.startswith("headstart "):
        extra = dict(option_value(option) for option in args.option)
        result = run_headstart(folder, system, model, seed, extra)
    elif system.startswith("Trainer"):
        result = run_trainer(folder, model, seed, args.max_length, bf16=system == BF16_TRAINER)
    elif system == "setfit library":
        result = run_setfit(folder, model, seed)
    elif system == "model2vec classifier":
        result = run_model2vec(folder, model, seed)
    else:
        result = run_tfidf(folder, chinese="zh" in args.dataset)
    print("RESULT " + json.dumps(result))


def option_value(option: str) -> tuple[str, object]:
    """KEY=VALUE of --option, the value read as JSON when it is (0.1, true), else as a string."""
    key, _, value = option.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def launch(
    folder: Path, dataset: str, system: str, seed: int, max_length: int | None, options: list[str]
) -> dict:
    """One system in its own process: wall time and peak RSS of that process (os.wait4); of a
    process killed by a signal (the kernel's out-of-memory killer sends SIGKILL), those and the signal."""
    command = [
        sys.executable,
        __file__,
        "--worker",
        system,
        "--folder",
        str(folder),
        "--dataset",
        dataset,
        "--model",
        MODELS[dataset],
        "--seed",
        str(seed),
    ]
    if max_length:
        command += ["--max-length", str(max_length)]
    for option in options:
        command += ["--option", option]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HEADSTART_CACHE": str(folder / "cache")}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    measured = {"wall_seconds": time.perf_counter() - started, "peak_rss_mib": usage.ru_maxrss / 1024}
    if process.returncode < 0:
        return {"killed": signal.Signals(-process.returncode).name, **measured}
    if process.returncode != 0:
        sys.exit(f"{system} on {dataset} failed:\n{stderr[-3000:]}")
    result = json.loads(next(line for line in stdout.splitlines() if line.startswith("RESULT "))[7:])
    return {**result, **measured}


def summary(runs: list[dict]) -> dict:
    """Medians of the timings, mean ± std of the scores over the seeds whose process finished; the
    signals that killed the others."""

    def median(key: str) -> float | None:
        values = [run[key] for run in runs if run.get(key) is not None]
        return statistics.median(values) if values else None

    out = {
        key: median(key)
        for key in (
            "wall_seconds",
            "train_samples_per_second",
            "peak_rss_mib",
            "short_texts_per_second",
            "static_model_seconds",
            "train_seconds",
            "train_gflops_per_second",
        )
    }
    finished = [run for run in runs if "killed" not in run]
    for metric in ("accuracy", "macro_f1"):
        values = [run[metric] for run in finished]
        out[metric] = statistics.mean(values) if values else None
        out[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    out["seeds"] = len(finished)
    out["killed"] = sorted({run["killed"] for run in runs if "killed" in run})
    return out


def number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def table(dataset: str, results: dict[str, dict], peak: float) -> list[str]:
    lines = [
        f"### {dataset} ({MODELS[dataset]}; {SIZES[dataset][0]} labelled rows, "
        f"{SIZES[dataset][1]} test rows)",
        "",
        "| system | seeds | wall s | train samples/s | peak RSS MiB | accuracy | macro-F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for system, row in results.items():
        spread = f" ± {row['accuracy_std']:.3f}" if row["seeds"] > 1 else ""
        scores = (
            f"{row['accuracy']:.4f}{spread} | {row['macro_f1']:.4f}"
            if row["accuracy"] is not None
            else f"killed ({', '.join(row['killed'])}) | –"
        )
        lines.append(
            f"| {system} | {row['seeds']} | {number(row['wall_seconds'])} | "
            f"{number(row['train_samples_per_second'])} | {number(row['peak_rss_mib'], 0)} | {scores} |"
        )
    return [*lines, "", *ratio_lines(results, peak), ""]


def ratio_lines(results: dict[str, dict], peak: float) -> list[str]:
    """The ratios against the peers, each where its systems ran (a run of a few systems gives its own)."""

    def ran(*systems: str) -> bool:
        return all(system in results and results[system]["accuracy"] is not None for system in systems)

    def speed(system: str, peer: str) -> str:
        ratio = results[system]["train_samples_per_second"] / results[peer]["train_samples_per_second"]
        return f"×{ratio:.2f}"

    def points(system: str, peer: str, metric: str = "accuracy") -> str:
        return f"{100 * (results[system][metric] - results[peer][metric]):+.2f} points"

    lines = []
    if ran("headstart finetune", "Trainer plain"):
        seeds = results["headstart finetune"]["seeds"]
        over = f"mean of {seeds} seeds" if seeds > 1 else "one seed"
        lines.append(
            f"- headstart finetune − Trainer plain, accuracy ({over}): "
            f"{points('headstart finetune', 'Trainer plain')}"
        )
    if ran(PEER_SETTINGS, "Trainer tuned"):
        work = results[PEER_SETTINGS]["train_gflops_per_second"]
        plain = f" (÷ Trainer plain: {speed(PEER_SETTINGS, 'Trainer plain')})" if ran("Trainer plain") else ""
        lines.append(
            f"- headstart finetune with the peers' settings, train samples/s ÷ Trainer tuned: "
            f"{speed(PEER_SETTINGS, 'Trainer tuned')}{plain}, accuracy "
            f"{points(PEER_SETTINGS, 'Trainer tuned')}; {work:.1f} GFLOP/s of useful training work, "
            f"{100 * work / peak:.0f} % of the fp32 matmul peak"
        )
    if ran(FROZEN_PEER, "Trainer tuned"):
        lines.append(
            f"- with --freeze-layers {FROZEN_LAYERS}: {speed(FROZEN_PEER, 'Trainer tuned')} the Trainer "
            f"tuned's train samples/s, accuracy {points(FROZEN_PEER, 'Trainer tuned')} against it "
            f"({results[FROZEN_PEER]['seeds']} seeds)"
        )
    if ran(FP32_PEER, PEER_SETTINGS, "Trainer tuned"):  # on a CPU with native bf16: that part's worth
        lines.append(
            f"- the same in fp32 (--mixed-precision no): {speed(FP32_PEER, 'Trainer tuned')} the Trainer "
            f"tuned's train samples/s, accuracy {points(FP32_PEER, 'Trainer tuned')}; "
            f"bf16 ÷ fp32: {speed(PEER_SETTINGS, FP32_PEER)}"
        )
    if ran(BF16_TRAINER, PEER_SETTINGS):
        lines.append(
            f"- against the Trainer tuned given bf16=True: {speed(PEER_SETTINGS, BF16_TRAINER)}, "
            f"accuracy {points(PEER_SETTINGS, BF16_TRAINER)}"
        )
    if ran("headstart static", "headstart features"):
        static = results["headstart static"]
        distil = static["static_model_seconds"]
        after = None if distil is None else static["train_seconds"] - distil
        lines.append(
            f"- headstart static: {number(static['short_texts_per_second'], 0)} short texts/s predicted; "
            f"training {number(after)} s after distillation ({number(distil)} s, once per encoder); "
            f"macro-F1 {points('headstart static', 'headstart features', 'macro_f1')} against features"
        )
    if ran("TF-IDF + LR") and len(results) > 1:
        base = results["TF-IDF + LR"]["wall_seconds"]
        walls = (
            f"{s} ×{r['wall_seconds'] / base:.1f}"
            for s, r in results.items()
            if s != "TF-IDF + LR" and ran(s)
        )
        lines.append("- wall time ÷ TF-IDF + LR: " + ", ".join(walls))
    return lines


def tables_from_log(logs: list[Path], peak: float, systems: list[str]) -> list[str]:
    """The tables of the datasets where each of `systems` finished (the bf16 rows may be missing),
    from the lines `main` logs per run ("dataset · system · seed N: {json}"): of a run stopped
    part-way, or of runs over different seeds (`--first-seed`)."""
    import re

    runs: dict[str, dict[str, list[dict]]] = {}
    for log in logs:
        for line in log.read_text(encoding="utf-8").splitlines():
            found = re.match(r"(\S+) · (.+) · seed (\d+): (\{.*\})$", line.strip())
            if found:
                runs.setdefault(found[1], {}).setdefault(found[2], []).append(json.loads(found[4]))
    lines = []
    for dataset, ran in runs.items():
        if set(systems) - set(BF16_ROWS) <= set(ran):
            present = [system for system in systems if system in ran]
            lines += table(dataset, {system: summary(ran[system]) for system in present}, peak)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="bbc,bbc-titles,zh-inews")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=42,
        help="Seeds from this one on, to add seeds to an earlier run (the systems run once run with 42).",
    )
    parser.add_argument("--systems", default=";".join(SYSTEMS), help="A subset of the systems, split by ';'.")
    parser.add_argument("--write", action="store_true", help=f"Write the tables to {RESULTS.name}.")
    parser.add_argument(
        "--from-log",
        type=Path,
        action="append",
        help="Tables from the per-run lines earlier runs logged (stderr); repeat to join runs.",
    )
    parser.add_argument("--peak", type=float, help="With --from-log: that run's matmul peak, GFLOP/s.")
    parser.add_argument(
        "--option", action="append", default=[], help="KEY=VALUE: a train option for every headstart system."
    )
    for hidden in ("--worker", "--folder", "--dataset", "--model"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    parser.add_argument("--max-length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.from_log:
        peak = args.peak or matmul_peak_gflops()
        return print("\n".join(tables_from_log(args.from_log, peak, args.systems.split(";"))))
    import torch

    from headstart.devices import cpu_name, native_bf16

    native = native_bf16(torch.device("cpu"))
    systems = [s for s in SYSTEMS if s in args.systems.split(";") and (native or s not in BF16_ROWS)]
    if args.first_seed > 42 and not set(systems) & set(SEEDED):
        sys.exit("--first-seed adds seeds to the systems that run every seed: list one of them in --systems.")
    peak = matmul_peak_gflops()
    lines = [
        f"Measured {date.today()} on {cpu_name()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}; fp32 matmul peak {peak:.0f} GFLOP/s (2048², best of 10); "
        f"native bf16: {'yes' if native else 'no'}.",
        f"Command: `python benchmarks/time_to_quality.py --datasets {args.datasets} --seeds {args.seeds}"
        + (f" --first-seed {args.first_seed}" if args.first_seed != 42 else "")
        + ("" if set(SYSTEMS) - set(BF16_ROWS) <= set(systems) else f' --systems "{";".join(systems)}"')
        + "".join(f" --option {option}" for option in args.option)
        + "`",
        "",
    ]
    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory(prefix=f"headstart-ttq-{dataset}-") as tmp:
            folder = Path(tmp)
            prepare(dataset, folder)
            runs: dict[str, list[dict]] = {system: [] for system in systems}
            headstart_length = None
            for seed in range(args.first_seed, args.first_seed + args.seeds):  # interleaved by round
                for system in systems:
                    if seed > 42 and system not in SEEDED:  # those run once, with seed 42
                        continue
                    tuned = system.startswith("Trainer tuned")
                    length = headstart_length if tuned else None
                    if tuned and length is None:
                        sys.exit(
                            "Trainer tuned takes headstart's max length: list a headstart finetune first."
                        )
                    result = launch(folder, dataset, system, seed, length, args.option)
                    if system.startswith("headstart finetune") and "killed" not in result:  # the same length
                        headstart_length = result["max_length"]
                    runs[system].append(result)
                    print(
                        f"{dataset} · {system} · seed {seed}: {json.dumps(result)}",
                        file=sys.stderr,
                        flush=True,
                    )
            lines += table(dataset, {system: summary(found) for system, found in runs.items() if found}, peak)
    print("\n".join(lines))
    if args.write:
        RESULTS.write_text(
            "# Time to quality\n\n" + __doc__.split("\n\n", 1)[1] + "\n" + "\n".join(lines) + "\n"
        )


if __name__ == "__main__":
    main()
