"""`--checkpoint-every 0`: nothing is written while training, and the best dev epoch's weights are
kept in memory and restored at the end, as the on-disk checkpoints restore them."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

import headstart
from headstart.training import checkpoint
from headstart.training.checkpoint import Checkpointer, TrainState
from headstart.training.job import TrainingJob

DEV_SCORES = TrainingJob.dev_scores  # the job's own, before a test replaces it


def test_the_in_memory_best_restores_its_weights_and_writes_nothing(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    directory = tmp_path / "checkpoints"
    checkpoints = Checkpointer(directory, is_writer=False, on_disk=False)  # every process keeps one
    assert not checkpoints.load_best(model)
    checkpoints.save_best(model)
    best = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    checkpoints.save(model, optimizer, scheduler, TrainState(step=1))
    assert checkpoints.load_best(model)
    assert torch.equal(model.weight, best)
    assert not directory.exists()


def test_a_fit_without_checkpoints_keeps_the_epoch_dev_chose(
    toy_csv: Path, tiny_model: str, tmp_path: Path, monkeypatch
) -> None:
    def weights(name: str, dev_scores: list[float], every: int) -> dict[str, torch.Tensor]:
        """The saved weights of a 3-epoch fit whose dev scores are `dev_scores`, epoch by epoch."""
        scores = iter(dev_scores)
        monkeypatch.setattr(
            TrainingJob, "dev_scores", lambda *args: {**DEV_SCORES(*args), "score": next(scores)}
        )
        options = {"epochs": 3, "patience": 0, "refit": "no", "max_length": 32, "lr": 1e-3, "seed": 3}
        options |= {"model": tiny_model, "checkpoint_every": every}
        run = headstart.train(toy_csv, out=tmp_path / name, **options)
        return load_file(run.path / "model" / "model.safetensors")

    on_disk = weights("disk", [0.9, 0.5, 0.1], 1000)

    def no_writes(*args: object) -> None:
        raise AssertionError("--checkpoint-every 0 wrote a checkpoint")

    monkeypatch.setattr(checkpoint, "save_model", no_writes)
    first_best = weights("first", [0.9, 0.5, 0.1], 0)
    last_best = weights("last", [0.1, 0.5, 0.9], 0)
    query = "bert.encoder.layer.1.attention.self.query.weight"
    assert not torch.equal(first_best[query], last_best[query])  # the choice changes the model
    assert first_best.keys() == on_disk.keys()
    for name, tensor in first_best.items():
        assert torch.equal(tensor, on_disk[name]), name
