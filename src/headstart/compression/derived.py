"""`headstart distill` and `headstart prune`: a new run made from a trained one, on the same data
split, measured against it in one process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headstart.compression.report import against, measure, model_bytes, record, same_split
from headstart.errors import ConfigError
from headstart.run import Predictor, Run


def distill(teacher: str | Path, out: str | Path, *, student: str | None = None, layers: int | None = None,
            temperature: float = 2.0, alpha: float = 0.5, unlabelled: str | None = None, overwrite: bool = False,
            **options: Any) -> Run:
    """Distil a teacher run into a student: `student` names an encoder (zoo name, folder or hub id),
    or `layers` keeps that many of the teacher's own layers. `options` are TrainConfig fields."""
    if student is not None and layers is not None:
        raise ConfigError("Give either --student MODEL or --layers N (the teacher with fewer layers), not both.")
    source = _source(teacher)
    model = str(source.path / "model") if layers is not None else (student or source.config.model)
    settings = {"teacher": str(source.path), "layers": layers, "temperature": temperature, "alpha": alpha, "unlabelled": unlabelled}
    return _derive(source, out, "distillation", ("teacher", "student"), overwrite,
                   model=model, strategy="distill", strategy_options=settings, **options)


def prune(run: str | Path, out: str | Path, *, heads: float = 0.0, sparsity: float = 0.0, recover_epochs: int = 1,
          overwrite: bool = False, **options: Any) -> Run:
    """Prune a run's attention heads (fraction `heads`) and/or weights (fraction `sparsity`), then
    fine-tune it for `recover_epochs` epochs (0: none)."""
    if recover_epochs < 0:
        raise ConfigError(f"--recover-epochs must be 0 or more, got {recover_epochs}.")
    if heads == sparsity == 0:
        raise ConfigError("Nothing to prune: give --heads and/or --sparsity as fractions, e.g. --heads 0.25.")
    source = _source(run)
    settings = {"source": str(source.path), "heads": heads, "sparsity": sparsity, "recover": recover_epochs > 0}
    return _derive(source, out, "pruning", ("unpruned", "pruned"), overwrite, model=str(source.path / "model"),
                   strategy="prune", strategy_options=settings, epochs=max(1, recover_epochs), **options)


def _source(path: str | Path) -> Run:
    source = Run.load(path)
    if not isinstance(source.predictor, Predictor):
        raise ConfigError(f"'{path}' is an ensemble; distil or prune one of its member runs, or distil the ensemble's best member.")
    return source


def _derive(source: Run, out: str | Path, section: str, names: tuple[str, str], overwrite: bool, **changes: Any) -> Run:
    from headstart.api import train

    # The source's data, split, seed and length; the learning rate is the new strategy's own.
    config = source.config.replace(lr=None, **changes)
    run = train(out=out, config=config, overwrite=overwrite)
    test = same_split(run, source)
    entries = {name: measure(r.predictor, test, model_bytes(r.path, "fp32", r.predictor.classifier))
               for name, r in zip(names, (source, run))}
    record(run, section, against(entries, names[0], run.task.primary_metric), {"source": str(source.path)})
    return run
