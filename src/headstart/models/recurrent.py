"""A bidirectional GRU or LSTM over token embeddings: the `bigru` baseline, which reads the run's
token ids like every run's model. Texts are pooled by the mean and the max of the states over
their tokens; a tagger (NER) gives each token its own logits."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from typing_extensions import override

from headstart.models.classifiers import CLASSIFIER_FILE, TextClassifier, save_weights

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentClassifier(TextClassifier):
    """Token embeddings → a bidirectional recurrent layer stack → a linear head. Saved as one
    safetensors file beside classifier.json, which holds the shape."""

    kind = "recurrent"
    WEIGHTS_FILE = "recurrent.safetensors"

    def __init__(
        self,
        embeddings: torch.Tensor,
        outputs: int,
        cell: str = "gru",
        hidden: int = 256,
        layers: int = 1,
        dropout: float = 0.2,
        token_level: bool = False,
    ) -> None:
        super().__init__()
        self.shape = {"cell": cell, "hidden": hidden, "layers": layers, "dropout": dropout}
        self.token_level = token_level
        self.embedding = nn.Embedding.from_pretrained(embeddings.float().clone(), freeze=False)
        self.rnn = CELLS[cell](
            embeddings.shape[1],
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden * (1 if token_level else 2), outputs)

    @override
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        lengths = attention_mask.sum(dim=1).clamp(min=1).cpu()  # packing skips the padding
        packed = pack_padded_sequence(
            self.dropout(self.embedding(input_ids)), lengths, batch_first=True, enforce_sorted=False
        )
        states, _ = pad_packed_sequence(
            self.rnn(packed)[0], batch_first=True, total_length=input_ids.shape[1]
        )
        states = self.dropout(states)
        if self.token_level:
            return self.head(states)
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        mean = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        peak = states.masked_fill(mask == 0, torch.finfo(states.dtype).min).max(dim=1).values
        return self.head(torch.cat([mean, peak], dim=-1))

    @override
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(self, directory / self.WEIGHTS_FILE)
        outputs = self.head.out_features
        self._write_kind(directory, **self.shape, outputs=outputs, token_level=self.token_level)

    @classmethod
    @override
    def load(cls, directory: Path, allow_pickle: bool = False) -> RecurrentClassifier:
        facts = json.loads((directory / CLASSIFIER_FILE).read_text(encoding="utf-8"))
        weights = load_file(str(directory / cls.WEIGHTS_FILE))
        shape = {key: facts[key] for key in ("cell", "hidden", "layers", "dropout", "token_level")}
        classifier = cls(weights["embedding.weight"], facts["outputs"], **shape)
        classifier.load_state_dict(weights)
        return classifier
