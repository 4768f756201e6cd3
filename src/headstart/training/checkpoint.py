"""Resumable checkpoints: written to a new folder, then pointed to by `latest.json` (atomic).
Without them (`--checkpoint-every 0`) nothing is written and the best epoch's weights stay in memory."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from torch import nn

from headstart.files import write_text_atomic


@dataclass
class TrainState:
    """Where training stands: epoch, batch, step, best dev score, history."""

    epoch: int = 0  # the epoch in progress
    batches_done: int = 0  # batches of that epoch already trained (this process)
    step: int = 0
    samples_seen: int = 0
    best_score: float = -1.0
    epochs_without_gain: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


class Checkpointer:
    """Only the main process writes; every process reads. With `on_disk` False, `save` does nothing
    and every process keeps its own copy of the best weights (they are the same in every process)."""

    def __init__(self, directory: Path, is_writer: bool, on_disk: bool = True) -> None:
        self.directory = directory
        self.is_writer = is_writer
        self.on_disk = on_disk
        self._best: dict[str, torch.Tensor] | None = None

    @property
    def latest_file(self) -> Path:
        """The file naming the newest checkpoint."""
        return self.directory / "latest.json"

    def exists(self) -> bool:
        """Whether there is a checkpoint to resume from."""
        return self.latest_file.is_file()

    def save(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, state: TrainState
    ) -> None:
        """Save weights, optimiser, schedule, RNG and state; older checkpoints go."""
        if not (self.is_writer and self.on_disk):
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"step-{state.step:08d}-{state.batches_done:06d}"
        staging = self.directory / f".tmp-{name}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        save_model(model, str(staging / "model.safetensors"))
        # Optimizer moments and RNG state hold only tensors and numbers: loaded back with weights_only=True.
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
            },
            staging / "optimizer.pt",
        )
        (staging / "state.json").write_text(json.dumps(dataclasses.asdict(state)), encoding="utf-8")
        target = self.directory / name
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        write_text_atomic(self.latest_file, json.dumps({"checkpoint": name}))
        for old in self.directory.glob("step-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def load(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> TrainState:
        """Restore the newest checkpoint into the model, optimiser and schedule."""
        folder = self.directory / json.loads(self.latest_file.read_text(encoding="utf-8"))["checkpoint"]
        load_model(model, str(folder / "model.safetensors"))
        saved = torch.load(folder / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        return TrainState(**json.loads((folder / "state.json").read_text(encoding="utf-8")))

    def save_best(self, model: nn.Module) -> None:
        """Keep the weights of the best dev epoch so far."""
        if not self.on_disk:
            # Parameters only: the loop changes nothing else (buffers hold position ids and frozen
            # tables). Every parameter, since gradual unfreezing may train a frozen one later.
            self._best = {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters()}
            return
        if not self.is_writer:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / ".best.safetensors.tmp"
        save_model(model, str(temporary))
        os.replace(temporary, self.directory / "best.safetensors")

    def load_best(self, model: nn.Module) -> bool:
        """Load the best epoch's weights; False when none was saved."""
        if not self.on_disk:
            if self._best is None:
                return False
            with torch.no_grad():
                for name, parameter in model.named_parameters():
                    parameter.copy_(self._best[name])
            return True
        best = self.directory / "best.safetensors"
        if not best.is_file():
            return False
        load_model(model, str(best))
        return True
