"""The training configuration: one dataclass, one default per option, saved with every run."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from headstart.errors import ConfigError
from headstart.files import write_text_atomic


def option(default: Any, help: str, panel: str | None = None, flag: bool = True) -> Any:
    """A dataclass field that carries its one-line help text (shown by the CLI and docs), the CLI
    help panel it is listed in, and whether it is a CLI flag at all (`flag=False`: set by code)."""
    metadata = {"help": help, "panel": panel, "flag": flag}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


DATA, MODEL, STRATEGY, OPTIMISATION, DEVICE = "Data", "Model", "Strategy", "Optimisation", "Device"
DEVICE_HELP = "Where to run: auto (a GPU when torch sees one), cpu, cuda, cuda:N or mps."
PRECISION_HELP = "Inference precision: fp32, or fp16/bf16 on a GPU, or bf16 on a CPU with AVX512-BF16 or AMX."
# `--refit auto` trains a second time under this many train + dev rows, where a second fit costs
# seconds to minutes. A reasoned bound, not yet a measured one: the sweep of refit gains by set size
# is still to be run (docs/results/time-to-quality.md says what has been measured).
REFIT_AUTO_ROWS = 5000
# Class weights are on by default when the largest class has at least this many times the training
# rows of the smallest: zh-inews (4.7×) gained with them (docs/results/time-to-quality.md); BBC News
# (1.46× in the benchmark's rows) keeps the plain loss it was measured with. A bound between the
# two, not a swept one.
CLASS_WEIGHTS_AUTO_RATIO = 2.0
_DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(name: str) -> None:
    """Refuse a device name headstart does not know, before anything is loaded."""
    if not _DEVICE_NAME.fullmatch(name):
        raise ConfigError(f"Unknown device '{name}'; use auto, cpu, cuda, cuda:N (e.g. cuda:1) or mps.")


def check_precision(precision: str) -> None:
    """Refuse a precision other than fp32, fp16 and bf16."""
    if precision not in ("fp32", "fp16", "bf16"):
        raise ConfigError(f"Unknown precision '{precision}'; use fp32, fp16 or bf16.")


@dataclass
class TrainConfig:
    """Every option of `headstart.train`, each with its one default and help text.

    The CLI's flags are generated from these fields, and a run saves its resolved config as
    config.yaml, so `TrainConfig.from_yaml(run / "config.yaml")` repeats a run. Exactly one data
    source is given: `data`, `dataset` or `annotations`.
    """

    data: str | None = option(None, "Labelled file (CSV, TSV, JSONL or Parquet).", DATA)
    dataset: str | None = option(None, "Bundled dataset name instead of a file, e.g. 'bbc-news'.", DATA)
    annotations: str | None = option(
        None,
        "Raw crowd answers (item id, annotator, label, text) "
        "instead of a labelled file; trained on their consensus.",
        DATA,
    )
    aggregation: str = option(
        "ds",
        "How crowd answers become labels with --annotations: mv, wawa, ds, one-coin-ds, glad or mace "
        "(for crowdlab, run `labels aggregate --method crowdlab` first).",
        DATA,
    )
    soft_labels: bool = option(
        False,
        "With --annotations, train on each item's posterior "
        "label distribution instead of its consensus label.",
        DATA,
    )
    dev_data: str | None = option(None, "Separate dev file; otherwise a stratified split of the data.", DATA)
    test_data: str | None = option(
        None, "Separate test file; otherwise a stratified split of the data.", DATA
    )
    text_col: str | None = option(None, "Text column; found automatically when not given.", DATA)
    label_col: str | None = option(None, "Label column; found automatically when not given.", DATA)
    task: str | None = option(
        None,
        "'classification', 'multi-label', 'regression' or 'ner'; detected from the data when not given.",
        DATA,
    )
    label_sep: str = option(
        "|", "Separator of several labels in one cell (multi-label CSV), e.g. 'sport|politics'.", DATA
    )
    label_cols: list[str] | None = option(
        None,
        "Multi-label data with one 0/1 column per label: those columns (repeat the flag per column).",
        DATA,
    )
    pseudonymize: str | None = option(
        None,
        "Key file (or 'env': the key in $HEADSTART_PSEUDONYM_KEY): replace personal data in every "
        "text by keyed pseudonyms before anything is trained or written.",
        DATA,
    )
    pseudonymize_names: str | None = option(
        None, "With --pseudonymize: a headstart NER run whose person and place names are replaced too.", DATA
    )
    text_pair_col: str | None = option(
        None,
        "Second text of sentence pairs (NLI, paraphrase, question-answer match); found automatically as "
        "text_pair, text_b, sentence2 or hypothesis.",
        DATA,
    )
    sample: int | None = option(
        None,
        "Keep a stratified sample of N rows before splitting (of the "
        "train split when the file has a split column), for quick runs.",
        DATA,
    )
    shots: int | None = option(
        None, "Few-shot: keep only this many training examples per class (dev and test stay whole).", DATA
    )
    train_size: int | None = option(
        None,
        "Keep only N training examples, stratified (dev and "
        "test stay whole): learning curves, label budgets.",
        DATA,
    )
    dev_size: float = option(
        0.1, "Fraction of the data held out for early stopping when no dev file is given.", DATA
    )
    test_size: float = option(
        0.2,
        "Fraction of the data held out for the final test when no test file is given; 0: no test split.",
        DATA,
    )
    encoding: str | None = option(
        None,
        "Text encoding of CSV, TSV, JSONL and CoNLL files; by default UTF-8, "
        "or UTF-16 by its byte-order mark.",
        DATA,
    )
    delimiter: str | None = option(
        None, "Field delimiter of CSV files; by default sniffed among , ; tab and |.", DATA
    )
    in_memory: str | None = option(
        None,
        "Set by the Python API when the data came from memory: its kind, size and hash.",
        DATA,
        flag=False,
    )

    model: str = option("minilm-l6", "Encoder: a zoo name, a local Hugging Face folder, or a hub id.", MODEL)
    allow_pickle: bool = option(
        False, "Allow loading pickled (.bin) weights. Only for models you trust.", MODEL
    )
    max_length: int | None = option(
        None,
        "Truncation length in tokens; by default a percentile of the data's lengths, capped by the "
        "model (its sentence-transformers length for frozen embeddings, its positions when tuned).",
        MODEL,
    )
    length_percentile: float = option(
        95.0,
        "Percentile of training-text token lengths used as the truncation length (when the longest "
        "text is over 128 tokens; shorter sets are never cut).",
        MODEL,
    )
    stride: int | None = option(
        None,
        "Long documents: cut texts longer than max_length into windows overlapping by this many tokens and "
        "pool the windows' logits; by default texts are truncated.",
        MODEL,
    )
    pool: str = option(
        "mean", "How the windows' logits of one text are pooled with --stride: 'mean' or 'max'.", MODEL
    )

    strategy: str = option("finetune", "Adaptation strategy; see `headstart strategies`.", STRATEGY)
    strategy_options: dict[str, Any] = option(
        {}, "Options of the chosen strategy (its own config), as --option KEY=VALUE.", STRATEGY
    )

    epochs: int = option(4, "Maximum number of training epochs.", OPTIMISATION)
    batch_size: int = option(16, "Training batch size per process.", OPTIMISATION)
    lr: float | None = option(
        None,
        "Peak learning rate of AdamW; by default the strategy's own (see `headstart strategies`).",
        OPTIMISATION,
    )
    weight_decay: float = option(
        0.01, "AdamW weight decay (not applied to biases and LayerNorm).", OPTIMISATION
    )
    warmup_ratio: float = option(
        0.1, "Fraction of steps spent warming the learning rate up linearly.", OPTIMISATION
    )
    schedule: str = option(
        "linear",
        "Learning-rate schedule: 'linear' (warm-up then linear "
        "decay), 'cosine', or 'stlr' (slanted triangular, ULMFiT).",
        OPTIMISATION,
    )
    layer_lr_decay: float = option(
        1.0,
        "Discriminative learning rates: layer at depth d from "
        "the top trains at lr × decay^d (1 = same lr everywhere).",
        OPTIMISATION,
    )
    max_grad_norm: float = option(1.0, "Gradient clipping norm; 0 turns clipping off.", OPTIMISATION)
    attention_dropout: float | None = option(
        None,
        "Dropout on the encoder's attention weights while fine-tuning; by default the encoder's own "
        "(0.1 for BERT-style ones). 0 lets PyTorch's fused attention kernel run: at batch 32 x 128 "
        "tokens on a CPU, x1.20 samples/s and 1,758 -> 1,662 MiB peak, but -1.1 accuracy points on "
        "short texts (bbc-titles).",
        OPTIMISATION,
    )
    freeze_embeddings: bool = option(
        False,
        "Keep the encoder's token embeddings (on MiniLM, half its weights) as they are while fine-tuning: "
        "steps skip their gradient and optimiser update.",
        OPTIMISATION,
    )
    freeze_layers: int = option(
        0,
        "Keep the embeddings and the bottom K encoder layers as they are; their outputs are computed "
        "once per text and reused every epoch, so steps run the top layers only.",
        OPTIMISATION,
    )
    patience: int = option(
        2,
        "Stop after this many epochs without a better dev score (the task's main metric: macro-F1 for "
        "classes, Spearman for regression, entity F1 for NER); 0 never stops early.",
        OPTIMISATION,
    )
    class_weights: bool | None = option(
        None,
        "Weight the loss (or the head's) by inverse class frequency. Default: on for single-label "
        f"classes with hard labels when the largest class has {CLASS_WEIGHTS_AUTO_RATIO:g}× or more "
        "the training rows of the smallest.",
        OPTIMISATION,
    )
    refit: str = option(
        "auto",
        "After the epoch (or C) is chosen on dev, train again on train + dev with it: 'yes', 'no', or "
        f"'auto' (yes under {REFIT_AUTO_ROWS} train + dev rows, except multi-label, whose thresholds "
        "are tuned on dev). The test split stays held out.",
        OPTIMISATION,
    )
    seed: int = option(42, "Seed for splitting, initialisation and batch order.", OPTIMISATION)
    eval_batch_size: int = option(
        16,
        "Batch size for evaluation and prediction (on CPU, small "
        "batches stay in cache: 16 ran 1.2× faster than 64).",
        OPTIMISATION,
    )
    checkpoint_every: int = option(
        100,
        "Save a resumable checkpoint every N optimiser steps (and every epoch); 0: none (nothing is "
        "written while training, and --resume starts over).",
        OPTIMISATION,
    )
    mixed_precision: str = option(
        "auto",
        "Matrix products while training: 'auto' (bf16 where the device multiplies bf16 natively: GPUs "
        "with bf16, CPUs with AVX512-BF16 or AMX; else fp32), 'no' (fp32), 'bf16' or 'fp16'.",
        OPTIMISATION,
    )

    device: str = option("auto", DEVICE_HELP, DEVICE)
    precision: str = option("fp32", PRECISION_HELP, DEVICE)

    def refits(self, rows: int) -> bool:
        """Whether training runs again on train + dev, `rows` of them (see `refit`)."""
        if self.refit != "auto":
            return self.refit == "yes"
        return rows < REFIT_AUTO_ROWS and self.task != "multi-label"

    def weighs_classes(self, task: str, labels: Sequence[Any]) -> bool:
        """Whether the loss weighs classes by inverse frequency, given the task and the training
        labels (see `class_weights`)."""
        if self.class_weights is not None:
            return self.class_weights
        if task != "classification" or self.soft_labels or not labels:
            return False
        counts = Counter(labels).values()
        return max(counts) >= CLASS_WEIGHTS_AUTO_RATIO * min(counts)

    def __post_init__(self) -> None:
        if self.delimiter in ("tab", "\\t"):  # what people type for a tab on a command line
            self.delimiter = "\t"
        if (
            sum(source is not None for source in (self.data, self.dataset, self.annotations, self.in_memory))
            != 1
        ):
            raise ConfigError(
                "Give exactly one of a data file, --dataset NAME "
                "(e.g. --dataset bbc-news) or --annotations FILE."
            )
        checks = [
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("eval_batch_size", self.eval_batch_size >= 1, "at least 1"),
            ("lr", self.lr is None or self.lr > 0, "greater than 0"),
            ("weight_decay", self.weight_decay >= 0, "0 or more"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "in [0, 1)"),
            ("max_grad_norm", self.max_grad_norm >= 0, "0 or more"),
            ("attention_dropout", 0 <= (self.attention_dropout or 0) < 1, "in [0, 1)"),
            ("patience", self.patience >= 0, "0 or more"),
            ("freeze_layers", self.freeze_layers >= 0, "0 or more"),
            ("checkpoint_every", self.checkpoint_every >= 0, "0 or more"),
            ("dev_size", 0 < self.dev_size < 1, "in (0, 1)"),
            ("test_size", 0 <= self.test_size < 1, "in [0, 1)"),
            ("delimiter", self.delimiter is None or len(self.delimiter) == 1, "one character, e.g. ';'"),
            ("length_percentile", 0 < self.length_percentile <= 100, "in (0, 100]"),
            ("sample", self.sample is None or self.sample >= 10, "at least 10"),
            ("shots", self.shots is None or self.shots >= 1, "at least 1"),
            ("train_size", self.train_size is None or self.train_size >= 2, "at least 2"),
            ("max_length", self.max_length is None or self.max_length >= 8, "at least 8"),
            ("stride", self.stride is None or self.stride >= 0, "0 or more"),
            ("pool", self.pool in ("mean", "max"), "'mean' or 'max'"),
            ("refit", self.refit in ("auto", "yes", "no"), "one of 'auto', 'yes', 'no'"),
            (
                "task",
                self.task in (None, "classification", "multi-label", "regression", "ner"),
                "one of 'classification', 'multi-label', 'regression', 'ner'",
            ),
            ("label_sep", bool(self.label_sep), "a non-empty string"),
            (
                "mixed_precision",
                self.mixed_precision in ("auto", "no", "bf16", "fp16"),
                "one of 'auto', 'no', 'bf16', 'fp16'",
            ),
            ("schedule", self.schedule in ("linear", "cosine", "stlr"), "one of 'linear', 'cosine', 'stlr'"),
            ("layer_lr_decay", 0 < self.layer_lr_decay <= 1, "in (0, 1]"),
        ]
        for name, ok, rule in checks:
            if not ok:
                raise ConfigError(f"Option '{name}' must be {rule}, got {getattr(self, name)!r}.")
        check_device_name(self.device)
        check_precision(self.precision)
        if self.dev_data is None and self.test_data is None and self.dev_size + self.test_size >= 0.9:
            raise ConfigError(
                f"dev_size + test_size is {self.dev_size + self.test_size:.2f}; "
                "keep it below 0.9 so training keeps data."
            )

    def to_dict(self) -> dict[str, Any]:
        """The options as plain values (what config.yaml holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from option: value pairs, refusing unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown config key(s) {unknown}; valid keys are listed by `headstart train --help`."
            )
        try:
            return cls(**values)
        except TypeError as error:
            raise ConfigError(f"Invalid config: {error}.") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """A config from a YAML file such as a run's config.yaml."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file '{path}' does not exist; pass the config.yaml of a run.")
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            reason = str(error).splitlines()[0]
            raise ConfigError(
                f"Config file '{path}' is not valid YAML ({reason}); fix or regenerate it."
            ) from None
        if not isinstance(values, dict):
            raise ConfigError(f"Config file '{path}' must hold a mapping of option: value.")
        return cls.from_dict(values)

    def save_yaml(self, path: str | Path) -> None:
        """Write the config as YAML, atomically."""
        write_text_atomic(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some options changed (checked again)."""
        return dataclasses.replace(self, **changes)
