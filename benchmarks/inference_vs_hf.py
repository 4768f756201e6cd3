"""Batch inference: headstart's variants against `transformers.pipeline` in fp32, same texts.

The model is a BBC News fine-tuned all-MiniLM-L6-v2 (headstart `finetune`, max length 128); if
--teacher does not exist it is trained first, and a 3-layer student distilled from it (--student)
likewise. The peer is the usual path for such a folder: `pipeline("text-classification", model)`
called on the list of texts with truncation at the same max length, at its default batch size (1)
and at batch size 32. headstart runs each model as fp32, int8 (PyTorch dynamic) and onnx-int8, and
where the CPU multiplies bf16 natively (AVX512-BF16 or AMX) also fp32 under bf16 autocast.

Throughput is measured on the same 2,000 BBC News texts for everyone: the best of --repeats
rounds (3 by default) after a warm-up, every system timed once per round. Accuracy is measured on
the held-out test split (never trained on), and agreement with the pipeline's predictions on all
2,000 texts.

    python benchmarks/inference_vs_hf.py [--teacher runs/bench-bbc-teacher] \
        [--student runs/bench-bbc-student3 | --student none]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def interleaved(systems: dict, texts: list[str], repeats: int) -> dict[str, tuple[list[str], float]]:
    """Each system's labels and best throughput (texts/s) over `repeats` rounds, every system timed
    once per round, so that a change of load on a shared machine falls on all of them alike."""
    for predict in systems.values():
        predict(texts[:16])  # warm-up
    best = dict.fromkeys(systems, float("inf"))
    labels: dict[str, list[str]] = {}
    for _ in range(repeats):
        for name, predict in systems.items():
            started = time.perf_counter()
            labels[name] = predict(texts)
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: (labels[name], len(texts) / best[name]) for name in systems}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teacher", type=Path, default=Path("runs/bench-bbc-teacher"))
    parser.add_argument("--student", type=Path, default=Path("runs/bench-bbc-student3"))
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/results/inference-vs-hf/results.json"))
    args = parser.parse_args()

    import torch
    from transformers import pipeline

    import headstart
    from headstart.data.bundled import load_bbc_news
    from headstart.devices import native_bf16
    from headstart.preparation import prepare_splits
    from headstart.progress import set_quiet

    set_quiet(True)
    if not args.teacher.exists():
        print(f"training the teacher into {args.teacher} (~4 min) ...", flush=True)
        headstart.train(dataset="bbc-news", strategy="finetune", max_length=128, epochs=3, out=args.teacher)
    students = [] if str(args.student) == "none" else [("student (3 layers)", args.student)]
    if students and not args.student.exists():
        print(f"distilling a 3-layer student into {args.student} (~7 min) ...", flush=True)
        headstart.distill(args.teacher, args.student, layers=3)
    for _, run in [("teacher", args.teacher), *students]:
        if not (run / "variants" / "onnx-int8").exists():
            headstart.quantize(run)

    teacher = headstart.load_run(args.teacher)
    max_length = teacher.config.max_length
    texts = load_bbc_news()["text"].tolist()[: args.texts]
    test = prepare_splits(teacher.config).test
    print(
        f"{len(texts)} BBC News texts, max length {max_length}, {torch.get_num_threads()} threads; "
        f"test split {len(test)} texts\n",
        flush=True,
    )

    hf = pipeline("text-classification", model=str(args.teacher / "model"), device=-1)

    def pipeline_at(size: int):
        return lambda batch: [
            p["label"] for p in hf(batch, truncation=True, max_length=max_length, batch_size=size)
        ]

    systems = {f"HF pipeline fp32, batch {size}": pipeline_at(size) for size in (1, 32)}
    # (variant, precision): the fp32 model also under bf16 autocast where the CPU multiplies bf16 natively.
    kinds = [("fp32", "fp32"), ("int8", "fp32"), ("onnx-int8", "fp32")]
    kinds += [("fp32", "bf16")] if native_bf16(torch.device("cpu")) else []
    for name, path in [("teacher (6 layers)", args.teacher), *students]:
        for variant, precision in kinds:
            run = headstart.load_run(path, variant, device="cpu", precision=precision)
            label = variant if precision == "fp32" else precision
            systems[f"headstart {name} {label}"] = lambda batch, r=run: r.predict(batch, show_progress=False)
    measured = interleaved(systems, texts, args.repeats)
    reference = measured["HF pipeline fp32, batch 1"][0]
    rows = [
        {
            "system": name,
            "texts_per_second": speed,
            "test_accuracy": float(np.mean(np.array(systems[name](test.texts)) == np.array(test.labels))),
            "agreement": float(np.mean(np.array(labels) == np.array(reference))),
        }
        for name, (labels, speed) in measured.items()
    ]

    peer, peer32 = rows[0], rows[1]
    print(
        "| system | texts/s | × pipeline (batch 1) | × pipeline (batch "
        "32) | test accuracy | change (points) | agreement with pipeline |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        row["vs_pipeline"] = row["texts_per_second"] / peer["texts_per_second"]
        row["vs_pipeline_batch32"] = row["texts_per_second"] / peer32["texts_per_second"]
        row["accuracy_change_points"] = 100 * (row["test_accuracy"] - peer["test_accuracy"])
        print(
            f"| {row['system']} | {row['texts_per_second']:.1f} | ×{row['vs_pipeline']:.2f} | "
            f"×{row['vs_pipeline_batch32']:.2f} | "
            f"{row['test_accuracy']:.4f} | {row['accuracy_change_points']:+.2f} | {row['agreement']:.3f} |"
        )
    eligible = [r for r in rows[2:] if r["accuracy_change_points"] >= -0.5]
    fastest = max(eligible, key=lambda r: r["texts_per_second"])
    print(
        f"\nfastest headstart model within 0.5 points of the pipeline's accuracy: {fastest['system']}, "
        f"×{fastest['vs_pipeline']:.2f} the pipeline's throughput (batch 1), "
        f"×{fastest['vs_pipeline_batch32']:.2f} at batch 32"
    )
    speeds = {row["system"]: row["texts_per_second"] for row in rows}
    if students:
        names = ("student (3 layers)", "teacher (6 layers)")
        student, teacher_fp32 = (speeds[f"headstart {name} fp32"] for name in names)
        print(
            f"distillation: the 3-layer student runs ×{student / teacher_fp32:.2f} "
            f"the teacher's throughput in fp32"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"texts": len(texts), "max_length": max_length, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
