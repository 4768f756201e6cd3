"""Predict with a headstart ONNX export, using onnxruntime, tokenizers and numpy only.

Copied into every `headstart export --format onnx` folder; it does not import headstart.

    python predict_onnx.py EXPORT_DIR [--int8] < inputs.jsonl > outputs.jsonl

Each input line is a JSON text, a [text, second text] pair (sentence-pair runs) or a list of words
(NER). Each output line holds `probabilities` (one per label, in headstart.json's order), a `value`
(regression) or `tag_probabilities` (one row per word, NER). In Python:

    model = ExportedModel("export")      # ExportedModel("export", int8=True) for the int8 graph
    model.outputs(["first text", "second text"])
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

BATCH = 16


class ExportedModel:
    """One exported model (or an ensemble of them: the mean of its members' outputs)."""

    def __init__(self, folder: str | Path, int8: bool = False) -> None:
        self.folder = Path(folder)
        self.facts = json.loads((self.folder / "headstart.json").read_text(encoding="utf-8"))
        self.members = [ExportedModel(self.folder / name, int8) for name in self.facts.get("members", [])]
        if self.members:
            return
        graph = self.folder / self.facts["files"]["int8" if int8 else "fp32"]
        self.session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))  # truncates as the run did
        self.pad_id = (self.tokenizer.padding or {}).get("pad_id", 0)
        self.tokenizer.no_padding()  # each batch is padded to its own longest row below

    def outputs(self, inputs: list[Any], head: str = "label") -> Any:
        """Probabilities (texts × labels), values, or for NER one (words × tags) array per input;
        `head` picks a further column of a multi-task run."""
        if self.members:
            return np.mean([member.outputs(inputs, head) for member in self.members], axis=0)
        if self.facts["task"] == "ner":
            return self._tags([list(words) for words in inputs])
        pairs = [tuple(item) if isinstance(item, list | tuple) else item for item in inputs]
        rows, texts = self._rows(self.tokenizer.encode_batch(pairs))
        name = "logits" if head == "label" else f"logits_{head}"
        logits = self._run(rows, name)
        rows_of: dict[int, list[int]] = {}
        for row, text in enumerate(texts):
            rows_of.setdefault(text, []).append(row)
        pooled = np.stack([self._pool(logits[rows_of[text]]) for text in range(len(inputs))])
        function = self.facts["output_function"] if head == "label" else "softmax"
        return (
            _apply(function, pooled)[:, 0] if self.facts["task"] == "regression" else _apply(function, pooled)
        )

    def _rows(self, encodings: list[Any]) -> tuple[list[Any], list[int]]:
        """Every window of every text, and its text. Without a stride a text is one window: its
        truncated start (the tokenizer keeps the cut-off rest as `overflowing`, unused then)."""
        windows = self.facts["stride"] is not None
        rows, texts = [], []
        for text, encoding in enumerate(encodings):
            for window in [encoding, *(encoding.overflowing if windows else [])]:
                rows.append(window)
                texts.append(text)
        return rows, texts

    def _run(self, rows: list[Any], output: str) -> Any:
        """One output row per encoded row, in batches padded to their longest row: an array for
        text tasks, a list of (tokens × tags) arrays for NER."""
        results: list[np.ndarray] = []
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            longest = max(len(row.ids) for row in batch)
            ids = np.full((len(batch), longest), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            for position, row in enumerate(batch):
                ids[position, : len(row.ids)], mask[position, : len(row.ids)] = row.ids, 1
            out = self.session.run([output], {"input_ids": ids, "attention_mask": mask})[0]
            results.extend(
                out[position, : len(row.ids)] if out.ndim == 3 else out[position]
                for position, row in enumerate(batch)
            )
        return results if results and results[0].ndim == 2 else np.stack(results)

    def _pool(self, windows: np.ndarray) -> np.ndarray:
        return windows.max(axis=0) if self.facts["pool"] == "max" else windows.mean(axis=0)

    def _tags(self, words: list[list[str]]) -> list[np.ndarray]:
        """Tag probabilities per word: read at the word's first sub-token, from the window where it
        sits farthest from an edge; words cut off by truncation get 'O'."""
        rows, texts = self._rows(self.tokenizer.encode_batch(words, is_pretokenized=True))
        logits = self._run(rows, "logits")
        best: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
        for row, text, row_logits in zip(rows, texts, logits, strict=True):
            word_ids = row.word_ids
            for position, word in enumerate(word_ids):
                if word is None or (position and word_ids[position - 1] == word):
                    continue
                margin = min(position, len(word_ids) - 1 - position)
                if (text, word) not in best or margin > best[(text, word)][0]:
                    best[(text, word)] = (margin, row_logits[position])
        unseen = np.full(len(self.facts["labels"]), -1e4)
        unseen[0] = 0.0  # "O"
        return [
            _apply("softmax", np.stack([best.get((text, w), (0, unseen))[1] for w in range(len(row))]))
            for text, row in enumerate(words)
        ]


def _apply(function: str, logits: np.ndarray) -> np.ndarray:
    if function == "sigmoid":
        return 1 / (1 + np.exp(-logits))
    if function == "identity":
        return logits
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def main(argv: list[str]) -> None:
    """Read JSON lines from standard input, write one JSON line of outputs per input."""
    model = ExportedModel(argv[0], int8="--int8" in argv)
    inputs = [json.loads(line) for line in sys.stdin if line.strip()]
    key = {"regression": "value", "ner": "tag_probabilities"}.get(model.facts["task"], "probabilities")
    for output in model.outputs(inputs):
        value = output.tolist() if isinstance(output, np.ndarray) else float(output)
        sys.stdout.write(json.dumps({key: value}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
