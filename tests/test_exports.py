"""Runs loaded by other stacks: one run of every kind (finetune, features, features-mix, lora,
setfit, zero-shot, multitask, distilled, head-pruned, ensemble) for each task it supports, exported
as ONNX and run in a process where `import headstart` fails, as transformers folders read by
`pipeline(...)`, and as sentence-transformers folders; each against `Run`'s own outputs.

Learning does not matter here, only that each export computes what the run does: the runs use the
tiny random BERT of conftest (2 layers, 2 heads) on synthetic keyword texts, trained briefly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.conftest import synthetic_rows

import headstart
from headstart.cli import main

ROWS = synthetic_rows(per_class=16, seed=21)
TEXTS = [row["text"] for row in ROWS]
PROBE = [row["text"] for row in synthetic_rows(per_class=10, seed=22)] + [" ".join(TEXTS[:6])]  # one long
FAST = {
    "max_length": 32,
    "epochs": 3,
    "lr": 3e-3,
    "patience": 0,
    "refit": "no",
    "checkpoint_every": 0,
    "seed": 3,
    # The same toy models on every machine: `auto` trains in bf16 where the CPU has it, and the
    # int8 checks below hold a barely trained model's near-ties (one multitask probe of 31 flipped).
    "mixed_precision": "no",
}


def labels_for(task: str) -> list[Any]:
    if task == "multi-label":  # money texts carry two labels
        return [["money", "tech"] if row["label"] == "money" else [row["label"]] for row in ROWS]
    if task == "regression":
        return [float(len(row["text"].split())) for row in ROWS]
    if task == "ner":
        return [["B-kw" if len(word) > 5 else "O" for word in row["text"].split()] for row in ROWS]
    return [row["label"] for row in ROWS]


def inputs_for(task: str, texts: list[str]) -> list[Any]:
    return [text.split() for text in texts] if task == "ner" else texts


CASES = [
    ("finetune", "classification"),
    ("finetune", "multi-label"),
    ("finetune", "regression"),
    ("finetune", "ner"),
    ("features", "classification"),
    ("features", "multi-label"),
    ("features", "regression"),
    ("features", "ner"),
    ("features-mix", "classification"),
    ("features-mix", "multi-label"),
    ("features-mix", "regression"),
    ("lora", "classification"),
    ("lora", "multi-label"),
    ("lora", "regression"),
    ("setfit", "classification"),
    ("zero-shot", "classification"),
    ("static", "classification"),
    ("static", "multi-label"),
    ("static", "regression"),
    ("multitask", "classification"),
    ("distill", "classification"),
    ("prune", "classification"),
    ("prune", "ner"),
    ("ensemble", "classification"),
]


def frame_for(task: str) -> pd.DataFrame:
    """The training rows of a task as a table (given again to distill and prune, whose split must match)."""
    if task == "ner":
        return pd.DataFrame({"tokens": [text.split() for text in TEXTS], "tags": labels_for(task)})
    return pd.DataFrame({"text": TEXTS, "label": labels_for(task)})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> dict[tuple[str, str], headstart.Run]:
    folder = tmp_path_factory.mktemp("export-runs")
    made: dict[tuple[str, str], headstart.Run] = {}
    for strategy, task in CASES:
        out, options, frame = folder / f"{strategy}-{task}", {**FAST, "model": tiny_model}, frame_for(task)
        if strategy in ("finetune", "features", "features-mix", "lora", "zero-shot", "static"):
            made[strategy, task] = headstart.train(frame, out=out, strategy=strategy, **options)
        elif strategy == "setfit":
            setfit = {"body_epochs": 1, "iterations": 2, "max_pairs": 64}
            made[strategy, task] = headstart.train(
                frame, out=out, strategy="setfit", strategy_options=setfit, **options
            )
        elif strategy == "multitask":
            frame["tone"] = ["long" if len(text) > 80 else "short" for text in TEXTS]
            made[strategy, task] = headstart.train(
                frame, out=out, strategy="multitask", strategy_options={"columns": ["tone"]}, **options
            )
        elif strategy == "distill":
            teacher = made["finetune", task].path
            made[strategy, task] = headstart.distill(teacher, out, layers=1, data=frame, epochs=2)
        elif strategy == "prune":
            source = made["finetune", task].path
            made[strategy, task] = headstart.prune(source, out, heads=0.5, recover_epochs=0, data=frame)
        else:
            members = [made["finetune", task].path, made["features", task].path]
            made[strategy, task] = headstart.ensemble(members, out=out)
    return made


def run_outputs(run: headstart.Run, task: str, texts: list[str]) -> Any:
    outputs = run.predictor.outputs(inputs_for(task, texts), show_progress=False)
    return [np.asarray(row) for row in outputs] if task == "ner" else np.asarray(outputs)


def test_onnx_exports_run_without_headstart(runs: dict, tmp_path: Path) -> None:
    """Every ONNX export runs with onnxruntime + tokenizers + numpy alone: `import headstart` is
    made to fail in the process that runs them (the reference runner shipped in each folder)."""
    jobs = []
    for (strategy, task), run in runs.items():
        folder = run.export(tmp_path / f"{strategy}-{task}", "onnx")
        jobs.append({"folder": str(folder), "inputs": inputs_for(task, PROBE), "task": task})
    script = (
        "import json, sys\n"
        "sys.modules['headstart'] = None  # any import of headstart now fails\n"
        "jobs = json.loads(sys.stdin.read())\n"
        "results = []\n"
        "for job in jobs:\n"
        "    sys.path.insert(0, job['folder'])\n"
        "    from predict_onnx import ExportedModel\n"
        "    sys.path.pop(0); sys.modules.pop('predict_onnx')\n"
        "    models = [ExportedModel(job['folder'], int8=int8) for int8 in (False, True)]\n"
        "    pair = [model.outputs(job['inputs']) for model in models]\n"
        "    ner = job['task'] == 'ner'\n"
        "    results.append([[row.tolist() for row in out] if ner else out.tolist() for out in pair])\n"
        "print(json.dumps(results))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(jobs), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for ((strategy, task), run), (fp32, int8) in zip(runs.items(), json.loads(done.stdout), strict=True):
        expected = run_outputs(run, task, PROBE)
        if task == "ner":  # tag probabilities per word
            for want, got in zip(expected, fp32, strict=True):
                np.testing.assert_allclose(np.array(got), want, atol=1e-4, err_msg=f"{strategy} {task}")
            same = np.concatenate(
                [np.array(q).argmax(1) == w.argmax(1) for q, w in zip(int8, expected, strict=True)]
            )
            print(strategy, task, "int8 agreement", same.mean())
            assert same.mean() >= 0.99, (strategy, task, same.mean())
            continue
        np.testing.assert_allclose(np.array(fp32), expected, atol=1e-4, err_msg=f"{strategy} {task}")
        if task == "regression":  # within 5 % of the targets' spread
            assert np.abs(np.array(int8) - expected).max() < 0.05 * run.task.scale, (strategy, task)
        else:  # the decisions: classes, or each label's threshold (multi-label)
            decided = run.task.decide(np.array(int8))
            same = np.array([a == b for a, b in zip(decided, run.task.decide(expected), strict=True)])
            # A class tied in fp32 (top two within 0.001: a barely trained toy model has some) may
            # fall either way in int8; the static run's one flip was 0.3649 against 0.3648.
            top_two = np.sort(expected, axis=1)[:, -2:] if task == "classification" else None
            agree = same.mean() if top_two is None else same[top_two[:, 1] - top_two[:, 0] >= 1e-3].mean()
            print(strategy, task, "int8 agreement", agree)
            assert agree >= 0.99, (strategy, task, agree)


TRANSFORMERS_CASES = [
    ("finetune", "classification"),
    ("finetune", "multi-label"),
    ("finetune", "regression"),
    ("lora", "classification"),
    ("distill", "classification"),
    ("prune", "classification"),
]


@pytest.mark.parametrize(("strategy", "task"), TRANSFORMERS_CASES)
def test_transformers_exports_give_the_runs_outputs_through_pipeline(
    runs: dict, tmp_path: Path, strategy: str, task: str
) -> None:
    from transformers import pipeline

    run = runs[strategy, task]
    folder = run.export(tmp_path / "hf", "transformers")
    classify = pipeline("text-classification", model=str(folder), top_k=None, device="cpu")
    if task == "regression":  # the target scale is folded in: the pipeline's raw score is the value
        scores = [answer[0]["score"] for answer in classify(PROBE, truncation=True, function_to_apply="none")]
        np.testing.assert_allclose(scores, run.predict(PROBE, show_progress=False), atol=1e-4)
        return
    answers = classify(PROBE, truncation=True)
    got = np.array(
        [[{a["label"]: a["score"] for a in answer}[label] for label in run.labels] for answer in answers]
    )
    np.testing.assert_allclose(got, run.predict_proba(PROBE, show_progress=False), atol=1e-4)


@pytest.mark.parametrize("strategy", ["finetune", "features", "prune"])
def test_token_classification_exports_give_the_runs_tag_probabilities(
    runs: dict, tmp_path: Path, strategy: str
) -> None:
    """NER runs (a frozen encoder's too) as *ForTokenClassification: a word's tags read at its
    first sub-token, as headstart reads them."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    run = runs[strategy, "ner"]
    folder = run.export(tmp_path / "hf", "transformers")
    model = AutoModelForTokenClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert [model.config.id2label[i] for i in range(len(run.labels))] == run.labels
    words = [text.split() for text in PROBE[:-1]]  # texts within max_length: no windows to pool
    expected = run_outputs(run, "ner", PROBE[:-1])
    for row, want in zip(words, expected, strict=True):
        encoded = tokenizer(row, is_split_into_words=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            probabilities = model(**encoded).logits.softmax(-1)[0].numpy()
        word_ids = encoded.word_ids()
        firsts = [p for p, w in enumerate(word_ids) if w is not None and (p == 0 or word_ids[p - 1] != w)]
        np.testing.assert_allclose(probabilities[firsts], want[: len(firsts)], atol=1e-4)


@pytest.mark.parametrize(
    ("strategy", "task"),
    [
        ("features", "classification"),
        ("features", "multi-label"),
        ("features", "regression"),
        ("features-mix", "classification"),
        ("setfit", "classification"),
        ("zero-shot", "classification"),
    ],
)
def test_sentence_transformers_exports_with_their_head_give_the_runs_outputs(
    runs: dict, tmp_path: Path, strategy: str, task: str
) -> None:
    import torch.nn.functional as F
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer

    run = runs[strategy, task]
    folder = run.export(tmp_path / "st", "sentence-transformers")
    model, head = SentenceTransformer(str(folder), device="cpu"), load_file(str(folder / "head.safetensors"))
    facts = json.loads((folder / "head.json").read_text())
    embeddings = model.encode(PROBE, convert_to_tensor=True)
    if "gamma" in head:  # features-mix: the layer-mix head
        embeddings = F.layer_norm(
            head["gamma"] * embeddings,
            (embeddings.shape[-1],),
            head["norm_weight"],
            head["norm_bias"],
            facts["eps"],
        )
    logits = embeddings @ head["weight"].T + head["bias"]
    outputs = {"softmax": logits.softmax(-1), "sigmoid": logits.sigmoid(), "identity": logits[:, 0]}
    expected = run_outputs(run, task, PROBE)
    np.testing.assert_allclose(outputs[facts["output_function"]].numpy(), expected, atol=1e-4)


def test_formats_that_cannot_hold_a_run_are_refused_in_one_line(
    runs: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    refusals = [
        (runs["features", "classification"], "transformers", "sentence-transformers or onnx"),
        (runs["multitask", "classification"], "transformers", "sentence-transformers or onnx"),
        (runs["finetune", "classification"], "sentence-transformers", "transformers or onnx"),
        (runs["ensemble", "classification"], "sentence-transformers", "transformers or onnx"),
        (runs["features", "ner"], "sentence-transformers", "transformers or onnx"),
        (runs["static", "classification"], "transformers", "--format onnx instead"),
        (runs["static", "regression"], "sentence-transformers", "--format onnx instead"),
    ]
    for run, fmt, instead in refusals:
        with pytest.raises(SystemExit) as stop:
            main(["export", str(run.path), "--format", fmt, "--out", str(tmp_path / "x")])
        error = capsys.readouterr().err.strip()
        assert stop.value.code == 2 and len(error.splitlines()) == 1 and instead in error, error
        assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "export",
                str(runs["features", "classification"].path),
                "--format",
                "gguf",
                "--out",
                str(tmp_path / "x"),
            ]
        )
    assert stop.value.code == 2 and "Unknown export format 'gguf'" in capsys.readouterr().err


def test_default_format_suits_the_run(runs: dict, tmp_path: Path) -> None:
    from headstart.exports import default_format
    from headstart.exports.common import ExportSource

    expected = {
        ("finetune", "ner"): "transformers",
        ("features", "ner"): "transformers",
        ("features", "classification"): "sentence-transformers",
        ("zero-shot", "classification"): "sentence-transformers",
        ("multitask", "classification"): "onnx",
        ("ensemble", "classification"): "onnx",
        ("static", "classification"): "onnx",
    }
    for case, fmt in expected.items():
        assert default_format(ExportSource.load(runs[case].path)) == fmt, case


def test_a_sentence_pair_runs_transformers_export_answers_pairs_as_the_run(tmp_path: Path) -> None:
    """headstart feeds no token-type ids; a pipeline feeds a pair's. The export answers the same.
    On MiniLM, whose pretrained segment embeddings differ enough to change the answer."""
    from transformers import pipeline

    firsts, seconds = TEXTS[:24], TEXTS[24:48]
    frame = pd.DataFrame({"text": firsts, "text_pair": seconds, "label": [row["label"] for row in ROWS[:24]]})
    options = {**FAST, "epochs": 1, "lr": 1e-4, "max_length": 64}
    run = headstart.train(frame, out=tmp_path / "pairs", strategy="finetune", **options)
    folder = run.export(tmp_path / "hf", "transformers")
    classify = pipeline("text-classification", model=str(folder), top_k=None, device="cpu")
    answers = classify(
        [{"text": a, "text_pair": b} for a, b in zip(firsts, seconds, strict=True)], truncation=True
    )
    got = np.array(
        [[{a["label"]: a["score"] for a in answer}[label] for label in run.labels] for answer in answers]
    )
    expected = run.predict_proba(list(zip(firsts, seconds, strict=True)), show_progress=False)
    np.testing.assert_allclose(got, expected, atol=1e-4)
