"""Frozen encoder: embeddings computed once per text (cached on disk, or for data from memory in
the process), a logistic-regression head on top."""

from __future__ import annotations

import functools
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from torch import nn
from typing_extensions import override

from headstart.config import option
from headstart.devices import CPU, Placement, small_fit_threads
from headstart.encoding import Encoded, forward_in_batches, forward_per_token
from headstart.models.classifiers import EmbeddingClassifier, TokenEmbeddingClassifier, load_encoder
from headstart.models.embeddings import embed, embed_layers
from headstart.strategies.base import Strategy, StrategyConfig, register_strategy
from headstart.training.job import FitReport, Fitted, TrainingJob


@dataclass
class FeaturesConfig(StrategyConfig):
    """Options of the frozen-encoder head."""

    c_values: list[float] = option(
        [0.01, 0.1, 1.0, 10.0],
        "Inverse L2 strengths tried for the head; the best on dev (the task's main metric) is kept.",
    )
    max_iter: int = option(3000, "Iteration limit of the logistic-regression solver.")

    def __post_init__(self) -> None:
        if not self.c_values or any(c <= 0 for c in self.c_values) or self.max_iter < 1:
            raise ValueError(
                "c_values needs at least one value > 0 and max_iter "
                f">= 1, got {self.c_values} and {self.max_iter}"
            )


def model_fingerprint(path: Path) -> str:
    """A key of the model's files (path, weight sizes and times): cached features follow the model."""
    parts = [str(path.resolve())]
    for weights in sorted(path.glob("*.safetensors")):
        stat = weights.stat()
        parts.append(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def data_fingerprint(encoded: Encoded) -> str:
    """A hash of the token ids, which fix the texts, the tokenizer and the length."""
    digest = hashlib.sha256()
    for ids in encoded.input_ids:
        digest.update(np.asarray(ids, dtype=np.int32).tobytes() + b"\xff\xff\xff\xff")
    return digest.hexdigest()


Rows = dict[int, torch.Tensor]  # embedded rows by their key (`row_keys`)


def row_keys(encoded: Encoded) -> list[int]:
    """A 64-bit key per row from its token ids, by which any cached set gives up its rows."""
    return [
        int.from_bytes(
            hashlib.blake2b(np.asarray(ids, np.int32).tobytes(), digest_size=8).digest(),
            "little",
            signed=True,
        )
        for ids in encoded.input_ids
    ]


def earlier_rows(folder: Path, wanted: set[int]) -> Rows:
    """The rows of `wanted` keys that the sets cached in `folder` hold (e.g. the first fit's train
    and dev sets, for the refit's train + dev), by key."""
    found: Rows = {}
    for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        with safe_open(str(path), "pt") as stored:
            keys = stored.get_tensor("row_keys").tolist()
            hits = [row for row, key in enumerate(keys) if key in wanted and key not in found]
            if hits:
                found.update(
                    zip((keys[row] for row in hits), stored.get_tensor("embeddings")[hits], strict=True)
                )
        if len(found) == len(wanted):
            break
    return found


class ProcessRows:
    """Rows embedded from data given in memory, kept in this process only and never written, so
    the refit and cross-validation's folds embed each text once; past `limit` bytes, the rows used
    longest ago go."""

    def __init__(self, limit: int = 256 * 2**20) -> None:
        self.rows: OrderedDict[tuple[str, int], torch.Tensor] = OrderedDict()
        self.limit, self.size = limit, 0

    def get(self, scope: str, keys: set[int]) -> Rows:
        """The rows of `keys` kept, by key."""
        found = {key: self.rows[(scope, key)] for key in keys if (scope, key) in self.rows}
        for key in found:
            self.rows.move_to_end((scope, key))
        return found

    def put(self, scope: str, rows: Rows) -> None:
        """Keep `rows` (by key) as the most recently used."""
        for key, row in rows.items():
            old = self.rows.pop((scope, key), None)
            self.size += row.nbytes - (0 if old is None else old.nbytes)
            self.rows[(scope, key)] = row.clone()  # not a view that keeps its whole batch alive
        while self.size > self.limit:
            self.size -= self.rows.popitem(last=False)[1].nbytes


PROCESS_ROWS = ProcessRows()


def cached_embeddings(
    encoder: nn.Module,
    encoded: Encoded,
    model_key: str,
    pad_id: int,
    batch_size: int,
    name: str,
    layers: bool = False,
    cache: Path | None = None,
    placement: Placement = CPU,
) -> torch.Tensor:
    """Mean-pooled embeddings of the last layer (or of every layer: (texts, layers + 1, dim)), kept
    per model, kind and precision and per text's token ids (which fix text, tokenizer and length):
    in the folder `cache`, one file per set of rows, or without one (data from memory) in this
    process's `PROCESS_ROWS`. Rows kept earlier are reused, so the refit, compare's seeds,
    learning-curve's sizes and cross-validation's folds embed each text once."""
    forward = functools.partial(embed_layers if layers else embed, encoder)
    kind = ("layers" if layers else "mean") + ("" if placement.precision == "fp32" else placement.precision)
    scope = f"{model_key}|{kind}"

    def filled(rows: Rows, keys: list[int]) -> tuple[torch.Tensor, Rows]:
        """The embeddings of `keys` in order, with the rows not in `rows` embedded (a repeated text
        once), and those new rows by key."""
        missing = {key: row for row, key in enumerate(keys) if key not in rows}
        new: Rows = {}
        if missing:
            part = Encoded([encoded.input_ids[row] for row in missing.values()])
            computed = forward_in_batches(
                forward, part, batch_size, pad_id, f"Embedding {name}", placement=placement
            )
            new = dict(zip(missing, computed, strict=True))
        rows.update(new)
        return torch.stack([rows[key] for key in keys]), new

    if cache is None:
        keys = row_keys(encoded)
        embeddings, new = filled(PROCESS_ROWS.get(scope, set(keys)), keys)
        PROCESS_ROWS.put(scope, new)
        return embeddings
    folder = cache / hashlib.sha256(scope.encode()).hexdigest()[:32]
    path = folder / f"{data_fingerprint(encoded)[:32]}.safetensors"
    if path.is_file():
        return load_file(str(path))["embeddings"]
    keys = row_keys(encoded)
    embeddings, _ = filled(earlier_rows(folder, set(keys)), keys)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({"embeddings": embeddings.contiguous(), "row_keys": torch.tensor(keys)}, str(temporary))
    os.replace(temporary, path)
    return embeddings


def frozen_encoder(job: TrainingJob) -> nn.Module:
    """The job's encoder in eval mode with every weight frozen."""
    encoder = load_encoder(job.model_path, job.config.allow_pickle).eval().to(job.placement.device)
    encoder.requires_grad_(False)
    return encoder


def frozen_embeddings(job: TrainingJob, layers: bool = False) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The frozen encoder and its cached train and dev embeddings (of every layer with `layers`)."""
    config = job.config
    encoder = frozen_encoder(job)
    key, pad_id = model_fingerprint(job.model_path), job.tokenizer.pad_token_id
    cache = job.feature_cache
    train_x, dev_x = (
        cached_embeddings(
            encoder, part, key, pad_id, config.eval_batch_size, name, layers, cache, job.placement
        )
        for part, name in ((job.train, "train"), (job.dev, "dev"))
    )
    return encoder, train_x, dev_x


def linear_head(coef: np.ndarray, intercept: np.ndarray, scaler: StandardScaler | None = None) -> nn.Linear:
    """A linear model's weights as one nn.Linear giving the same outputs, with its inputs'
    standardisation (`scaler`) folded in."""
    weight, bias = coef, intercept
    if scaler is not None:
        weight = coef / scaler.scale_
        bias = intercept - weight @ scaler.mean_
    head = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight).float())
        head.bias.copy_(torch.from_numpy(bias).float())
    return head


@register_strategy
class Features(Strategy):
    """A frozen encoder's cached embeddings and a linear head chosen on dev."""

    name = "features"
    summary = (
        "Frozen encoder: mean-pooled embeddings computed once and cached, a logistic-regression head on them."
    )
    config_class = FeaturesConfig
    config: FeaturesConfig
    soft_labels = False  # scikit-learn's logistic regression takes classes only

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        if job.task.token_level:
            return self.fit_tokens(job)
        encoder, train_x, dev_x = frozen_embeddings(job)
        assert job.train.label_ids is not None  # training rows always carry targets
        best, report, dev_outputs = self.select_head(
            job, train_x.numpy(), job.train.label_ids, job.task.name, lambda head: head(dev_x)
        )
        return Fitted(EmbeddingClassifier(encoder, best), report, dev_outputs)

    def fit_tokens(self, job: TrainingJob) -> Fitted:
        """Named entities: a logistic regression on the frozen state of each word's first sub-token."""
        config = job.config
        encoder = frozen_encoder(job)

        def states(part: Encoded, name: str) -> list[torch.Tensor]:
            return forward_per_token(
                lambda ids, mask: encoder(input_ids=ids, attention_mask=mask).last_hidden_state,
                part,
                config.eval_batch_size,
                job.tokenizer.pad_token_id,
                f"Embedding {name}",
                placement=job.placement,
            )

        train_rows, dev_rows = states(job.train, "train"), states(job.dev, "dev")
        assert job.train.label_ids is not None  # training rows always carry targets
        labels = torch.tensor([tag for row in job.train.label_ids for tag in row])
        x = torch.cat(train_rows)[labels != -100].numpy()
        y = labels[labels != -100].tolist()
        best, report, dev_outputs = self.select_head(
            job,
            x,
            y,
            "classification",
            lambda head: [head(row) for row in dev_rows],
            outputs=job.task.outputs,
        )
        return Fitted(TokenEmbeddingClassifier(encoder, best), report, dev_outputs)

    def select_head(
        self,
        job: TrainingJob,
        x: Any,  # a numpy array, or a scipy sparse matrix with standardise=False
        targets: list[Any],
        task: str,
        dev_logits: Callable[[nn.Linear], Any],
        outputs: int | None = None,
        standardise: bool = True,
    ) -> tuple[nn.Linear, FitReport, Any]:
        """Fit the task's linear model on `x` (standardised unless told not to: sparse TF-IDF) at
        each C; keep the head whose dev logits score best. With `outputs`, classes never seen in
        training get rows too (token tags). The head, the report and the head's `dev_outputs`."""
        config = job.config
        assert config.class_weights is not None  # train() resolves it from the labels
        scaler = StandardScaler().fit(x) if standardise else None
        z = x if scaler is None else scaler.transform(x)
        history: list[dict[str, Any]] = []
        best, best_score, best_outputs = None, -np.inf, None
        for c in self.config.c_values:
            with small_fit_threads(z.size):
                coef, intercept = self.fit_linear(z, targets, task, c, config.class_weights, config.seed)
            if outputs is not None:
                coef, intercept = self.all_classes(coef, intercept, sorted(set(targets)), outputs)
            head = linear_head(coef, intercept, scaler)  # the very logits the saved classifier gives
            with torch.no_grad():
                dev_outputs = job.dev_outputs(dev_logits(head))
            score = job.dev_scores(dev_outputs)["score"]
            history.append({"C": c, f"dev_{job.task.primary_metric}": score})
            if score > best_score:
                best, best_score, best_outputs = head, score, dev_outputs
        assert best is not None  # c_values is never empty
        report = FitReport(history=history, best_dev_score=float(best_score), samples_seen=len(job.train))
        return best, report, best_outputs

    @staticmethod
    def all_classes(
        coef: np.ndarray, intercept: np.ndarray, seen: list[int], classes: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows for every class: tags never seen in training get a logit far below the others."""
        full_coef, full_intercept = np.zeros((classes, coef.shape[1])), np.full(classes, -1e4)
        full_coef[seen], full_intercept[seen] = coef, intercept
        return full_coef, full_intercept

    def fit_linear(
        self, x: np.ndarray, targets: list[Any], task: str, c: float, balanced: bool, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weights (outputs, dim) and biases of the linear model the task calls for, at inverse
        strength `c`."""
        if task == "regression":
            ridge = Ridge(alpha=1.0 / c).fit(x, targets)
            return ridge.coef_.reshape(1, -1), np.atleast_1d(ridge.intercept_)
        if (
            task == "multi-label"
        ):  # one logistic regression per label; a label constant in training gets a constant logit
            columns = np.asarray(targets, dtype=int).T
            fitted = [
                self.fit_linear(x, list(column), "classification", c, balanced, seed)
                if 0 < column.sum() < len(column)
                else (np.zeros((2, x.shape[1])), np.array([0.0, 10.0 if column.any() else -10.0]))
                for column in columns
            ]
            return np.stack([w[1] - w[0] for w, _ in fitted]), np.array([b[1] - b[0] for _, b in fitted])
        model = LogisticRegression(
            C=c,
            max_iter=self.config.max_iter,
            class_weight="balanced" if balanced else None,
            random_state=seed,
        ).fit(x, targets)
        coef, intercept = model.coef_, model.intercept_
        if coef.shape[0] == 1:  # sklearn keeps one row for two classes: logits (0, z) give the same softmax
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        return coef, intercept
