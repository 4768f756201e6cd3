"""What every export reads from a run (its predictor, config and record) and writes beside the
model: the tokenizer set to the run's truncation, a transformers config.json with the label
names, and the model card with the Hub's metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.config import TrainConfig
from headstart.data.ner import WORD
from headstart.encoding import Windowing
from headstart.errors import RunError
from headstart.files import write_text_atomic
from headstart.inference.predictor import EnsemblePredictor, ModelPredictor, Predictor, load_predictor
from headstart.models.zoo import hf_files_dir
from headstart.record import CARD_FILE, CONFIG_FILE, ENSEMBLE_FILE, MODEL_DIR, RunRecord, read_record
from headstart.reports.model_card import model_card
from headstart.tasks import MultiLabel, Regression
from headstart.version import __version__


@dataclass
class ExportSource:
    """A run loaded for export, on the CPU (graphs are traced there): its predictor, config and
    record; an ensemble also holds its members' sources."""

    path: Path
    predictor: Predictor
    config: TrainConfig
    record: RunRecord
    members: list[ExportSource] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> ExportSource:
        """The run (or ensemble) at `path`."""
        if not (path / CONFIG_FILE).is_file():
            raise RunError(
                f"'{path}' is not a headstart run (no {CONFIG_FILE}); pass the --out folder of "
                "`headstart train`."
            )
        config, record = TrainConfig.from_yaml(path / CONFIG_FILE), read_record(path)
        ensemble = path / ENSEMBLE_FILE
        if ensemble.is_file():
            names = json.loads(ensemble.read_text(encoding="utf-8"))["members"]
            members = [cls.load(path / name) for name in names]
            predictor = EnsemblePredictor([member.predictor for member in members])
            return cls(path, predictor, config, record, members)
        return cls(path, load_predictor(path, device="cpu"), config, record)

    def member_sources(self) -> list[ExportSource]:
        """The members of an ensemble."""
        return self.members

    @property
    def model(self) -> ModelPredictor:
        """The one model of a run that is not an ensemble."""
        assert isinstance(self.predictor, ModelPredictor)
        return self.predictor

    def facts(self) -> dict[str, Any]:
        """What a loader needs besides the weights: task, labels, truncation and windows, pairs,
        the decision thresholds (multi-label) and the word pattern (NER)."""
        task, config = self.predictor.task, self.config
        facts: dict[str, Any] = {
            "headstart": __version__,
            "run": self.path.name,
            "strategy": config.strategy,
            "model": config.model,
            "task": task.name,
            "labels": task.classes,
            "max_length": config.max_length,
            "stride": config.stride,
            "pool": config.pool,
            "text_pair": config.text_pair_col is not None,
        }
        if isinstance(task, MultiLabel):
            facts["thresholds"] = task.thresholds
        if task.token_level:
            facts["word_pattern"] = WORD.pattern  # how headstart cuts raw text into words
        return facts


def write_tokenizer(tokenizer: Any, folder: Path, window: Windowing, tokenizer_json: bool = False) -> None:
    """The tokenizer's files with the run's truncation length as `model_max_length`. With
    `tokenizer_json`, tokenizer.json itself truncates (in windows with a stride) and pads as the
    run does, for users of the `tokenizers` library alone."""
    tokenizer.model_max_length = window.max_length
    tokenizer.save_pretrained(folder)
    if not tokenizer_json:
        return
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.enable_truncation(window.max_length, stride=window.stride or 0, strategy="longest_first")
    backend.enable_padding(pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token)
    backend.save(str(folder / "tokenizer.json"))


def write_hf_config(source: ExportSource, folder: Path) -> None:
    """The encoder's config.json with the label names and problem type, as transformers and
    optimum read them."""
    encoder_config = hf_files_dir(source.path / MODEL_DIR) / "config.json"
    # A static run has no transformer encoder, so no config of one: the labels alone then.
    config = json.loads(encoder_config.read_text(encoding="utf-8")) if encoder_config.is_file() else {}
    config.update(label_fields(source))
    write_text_atomic(folder / "config.json", json.dumps(config, indent=2, ensure_ascii=False))


def label_fields(source: ExportSource) -> dict[str, Any]:
    """id2label, label2id and problem_type for a transformers config."""
    task = source.predictor.task
    names = task.classes or ["value"]
    problem = {MultiLabel: "multi_label_classification", Regression: "regression"}.get(
        type(task), "single_label_classification"
    )
    fields: dict[str, Any] = {
        "id2label": dict(enumerate(names)),
        "label2id": {name: index for index, name in enumerate(names)},
    }
    if not task.token_level:
        fields["problem_type"] = problem
    return fields


def write_card(source: ExportSource, folder: Path, library: str, loading: str) -> None:
    """The export's README.md: the run's card with the export's library and how to load it."""
    first = source.members[0] if source.members else source
    record = first.record
    if source.members:  # the ensemble's own test figures, when it was evaluated
        record = RunRecord(**{**record, "test": source.record.get("test", {})})
    card = model_card(first.config.to_dict(), record, source.predictor.task, library, loading)
    if source.members:
        card = card.replace("\n# ", f"\n# Ensemble of {len(source.members)} runs — ", 1)
    write_text_atomic(folder / CARD_FILE, card)
