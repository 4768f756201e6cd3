"""Runs as folders that the user's own stack loads without headstart.

- `transformers`: runs whose every weight trained through a transformers head (finetune, l2sp,
  bitfit, lora, adapters, distill, prune, ...) and frozen-encoder NER runs; loaded by
  `AutoModelFor...Classification` and `pipeline(...)`.
- `sentence-transformers`: frozen encoders with a head on text embeddings (features,
  features-mix, setfit, zero-shot); `SentenceTransformer(folder)` plus `head.safetensors`.
- `onnx`: every run, ensembles and multi-task runs included; `onnxruntime` + `tokenizers`
  (`predict_onnx.py`), or optimum.

Each export is written to a temporary folder and renamed into place when complete, with a model
card holding the Hub's metadata and how to load it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from headstart.errors import ConfigError, RunError
from headstart.exports.common import ExportSource, write_card
from headstart.exports.hf import write_transformers
from headstart.exports.onnx import write_onnx
from headstart.exports.sentence import write_sentence_transformers
from headstart.files import replace_dir, staging_dir
from headstart.inference.predictor import ModelPredictor
from headstart.models.classifiers import (
    CosineClassifier,
    EmbeddingClassifier,
    LayerMixClassifier,
    StaticClassifier,
    TokenEmbeddingClassifier,
    TransformersClassifier,
)
from headstart.models.recurrent import RecurrentClassifier
from headstart.models.tfidf import TfidfClassifier

FORMATS = ("transformers", "sentence-transformers", "onnx")
LIBRARIES = {"transformers": "transformers", "sentence-transformers": "sentence-transformers", "onnx": "onnx"}
WRITERS = {
    "transformers": write_transformers,
    "sentence-transformers": write_sentence_transformers,
    "onnx": write_onnx,
}
LOADING = {
    "transformers": """```python
from transformers import pipeline
classify = pipeline("text-classification", model="FOLDER", top_k=None)  # "token-classification" for NER
classify(["a text"], truncation=True)  # every label's probability, as headstart gives them
```
""",
    "sentence-transformers": """```python
import torch
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer
model, head = SentenceTransformer("FOLDER"), load_file("FOLDER/head.safetensors")
embeddings = model.encode(["a text"], convert_to_tensor=True)
logits = embeddings @ head["weight"].T + head["bias"]  # head.json: the formula and output function
probabilities = logits.softmax(-1)
```
""",
    "onnx": """```bash
python FOLDER/predict_onnx.py FOLDER < texts.jsonl   # needs only onnxruntime, tokenizers and numpy
```
`model.onnx` (fp32) and `model_int8.onnx` take `input_ids` and `attention_mask` (from
`tokenizer.json`, which truncates as the run did) and give `logits` and the task's outputs;
`headstart.json` says what they mean.
""",
}


def default_format(source: ExportSource) -> str:
    """The format that suits a run best: transformers where a transformers class computes it,
    sentence-transformers for frozen encoders on text embeddings, else ONNX."""
    predictor = source.predictor
    if not isinstance(predictor, ModelPredictor):
        return "onnx"
    classifier = predictor.classifier
    if isinstance(classifier, TransformersClassifier | TokenEmbeddingClassifier):
        return "transformers"
    frozen = isinstance(classifier, EmbeddingClassifier | CosineClassifier | LayerMixClassifier)
    return "sentence-transformers" if frozen and source.config.text_pair_col is None else "onnx"


def export_run(run_dir: str | Path, fmt: str | None, out: str | Path, overwrite: bool = False) -> Path:
    """Write the run at `run_dir` as a `fmt` folder (default: `default_format`) to `out`."""
    out = Path(out)
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"Unknown export format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    if out.exists() and not overwrite:
        raise RunError(f"Output directory '{out}' already exists; choose another --out or pass --overwrite.")
    source = ExportSource.load(Path(run_dir))
    fmt = fmt or default_format(source)
    _refuse_static(source, fmt)
    staged = staging_dir(out)
    try:
        WRITERS[fmt](source, staged)
        write_card(source, staged, LIBRARIES[fmt], LOADING[fmt].replace("FOLDER", out.name))
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    replace_dir(staged, out)
    return out


def _refuse_static(source: ExportSource, fmt: str) -> None:
    """Static runs go to ONNX only: transformers has no static model class, and
    sentence-transformers' StaticEmbedding neither truncates nor skips tokens as the run does.
    The baselines go nowhere: TF-IDF's n-gram look-up has no ONNX operator, and the recurrent
    network's packed sequences are not exported."""
    predictor = source.predictor
    classifier = predictor.classifier if isinstance(predictor, ModelPredictor) else None
    if isinstance(classifier, TfidfClassifier | RecurrentClassifier):
        raise ConfigError(
            f"A baseline run ('{source.config.strategy}', no encoder) has no export format; serve it "
            "with `headstart serve RUN` or predict with `headstart predict RUN FILE`."
        )
    static = isinstance(classifier, StaticClassifier)
    if static and fmt != "onnx":
        raise ConfigError(
            f"A 'static' run (token vectors averaged) has no {fmt} class that computes it as headstart "
            "does; export it with --format onnx instead."
        )
