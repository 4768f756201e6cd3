"""Domain-adaptive pretraining (Gururangan et al. 2020): continue the encoder's masked-LM training
on unlabelled in-domain text, then fine-tune the adapted encoder with any other strategy."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForMaskedLM,
    DataCollatorForLanguageModeling,
    get_linear_schedule_with_warmup,
)
from typing_extensions import override

from headstart.config import option
from headstart.data.texts import read_texts
from headstart.encoding import Encoded, LengthGroupedBatchSampler, encode
from headstart.errors import ConfigError
from headstart.models.classifiers import load_pretrained
from headstart.progress import info, progress_bar
from headstart.strategies.base import Strategy, StrategyConfig, make_strategy, register_strategy
from headstart.training.job import Fitted, TrainingJob
from headstart.training.loop import make_optimizer


@dataclass
class DAPTConfig(StrategyConfig):
    """The masked-LM phase and the strategy that follows it."""

    then: str = option("finetune", "Strategy that trains the classifier on the adapted encoder.")
    then_options: dict = option({}, "Options of that strategy.")
    text_file: str | None = option(
        None,
        "Unlabelled in-domain texts: a .txt file (one per line) or "
        "a table with a text column; default: the training texts.",
    )
    epochs: int = option(2, "Masked-LM passes over the unlabelled texts.")
    lr: float = option(5e-5, "Peak learning rate of the masked-LM phase.")
    mlm_probability: float = option(0.15, "Fraction of tokens masked, as in BERT.")

    def __post_init__(self) -> None:
        if self.then == "dapt":
            raise ValueError("'then' must be another strategy than dapt")
        if self.epochs < 1 or self.lr <= 0 or not 0 < self.mlm_probability < 1:
            raise ValueError("need epochs >= 1, lr > 0 and mlm_probability in (0, 1)")


@register_strategy
class DAPT(Strategy):
    """Masked-LM training on in-domain text, then the `then` strategy."""

    name = "dapt"
    replays_on_refit = False  # its choice on dev is the next strategy's, in options of its own
    trains_encoder = True  # the masked-LM phase trains every encoder weight
    summary = (
        "Domain-adaptive pretraining: masked-LM on unlabelled "
        "in-domain text first, then another strategy (then=...)."
    )
    config_class = DAPTConfig
    config: DAPTConfig

    def __init__(self, config: DAPTConfig | None = None) -> None:
        super().__init__(config)
        self.then = make_strategy(self.config.then, self.config.then_options)
        self.default_lr = self.then.default_lr  # the fine-tuning phase follows the chosen strategy
        self.tasks = self.then.tasks

    @override
    def extra_label_columns(self) -> list[str]:
        return self.then.extra_label_columns()

    @override
    def fit(self, job: TrainingJob) -> Fitted:
        adapted = job.workdir / "dapt-model"
        adaptation = None
        if not (job.resume and (adapted / "done").is_file()):
            adaptation = adapt(job, self._unlabelled(job), adapted, self.config)
        # The chosen strategy runs as if the adapted encoder were the pretrained one.
        fitted = self.then.fit(dataclasses.replace(job, model_path=adapted))
        if adaptation is not None:
            fitted.report.details["dapt"] = adaptation
        return fitted

    def _unlabelled(self, job: TrainingJob) -> Encoded:
        if self.config.text_file is None:
            return Encoded(job.train.input_ids)
        return encode(job.tokenizer, read_texts(Path(self.config.text_file)), job.max_length)


def adapt(job: TrainingJob, texts: Encoded, out: Path, settings: DAPTConfig) -> dict[str, Any]:
    """Masked-LM training of the encoder on `texts`; the model (encoder + LM head) is saved to `out`.

    A seeded tenth of the texts (at most 200) is held out, and its masked-LM loss measured before
    and after with the same masks, so the summary shows whether the model learnt the domain.
    """
    accelerator, config = job.accelerator, job.config
    model = load_pretrained(AutoModelForMaskedLM, job.model_path, config.allow_pickle)
    if model.get_output_embeddings() is None:
        raise ConfigError(
            f"Model '{config.model}' has no masked-LM head to adapt; use dapt with a BERT-style encoder."
        )
    collator = DataCollatorForLanguageModeling(job.tokenizer, mlm_probability=settings.mlm_probability)
    held_out, training = _hold_out(texts, config.seed)

    def collate(rows: list[list[int]]) -> dict[str, torch.Tensor]:
        return collator([{"input_ids": ids} for ids in rows])

    sampler = LengthGroupedBatchSampler([len(ids) for ids in training], config.batch_size, config.seed)
    loader: torch.utils.data.DataLoader[list[int]] = torch.utils.data.DataLoader(
        training,  # type: ignore[arg-type]  # a list is a map-style dataset
        batch_sampler=sampler,
        collate_fn=collate,
    )
    optimizer = make_optimizer(model.parameters(), lr=settings.lr, weight_decay=config.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    held_out_loss = functools.partial(
        masked_lm_loss, accelerator.unwrap_model(model), held_out, collate, config.seed
    )
    before = held_out_loss()
    info(
        f"Domain-adaptive pretraining on {len(training)} texts "
        f"({len(held_out)} held out), masked-LM loss {before:.3f}."
    )
    _masked_lm_epochs(model, loader, sampler, optimizer, accelerator, settings.epochs)
    after = held_out_loss()
    info(f"Masked-LM loss on held-out in-domain text: {before:.3f} → {after:.3f}.")

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(out)
        job.tokenizer.save_pretrained(out)
        (out / "done").touch()
    accelerator.wait_for_everyone()
    return {
        "texts": len(training),
        "held_out": len(held_out),
        "epochs": settings.epochs,
        "held_out_mlm_loss_before": round(before, 4),
        "held_out_mlm_loss_after": round(after, 4),
    }


def _hold_out(texts: Encoded, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """A seeded tenth of the texts (at most 200) held out, and the rest to train on."""
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed)).tolist()
    count = min(200, len(texts) // 10)
    return [texts.input_ids[i] for i in order[:count]], [texts.input_ids[i] for i in order[count:]]


def _masked_lm_epochs(
    model: Any,
    loader: Any,
    sampler: LengthGroupedBatchSampler,
    optimizer: torch.optim.Optimizer,
    accelerator: Any,
    epochs: int,
) -> None:
    """The masked-LM steps: linear warm-up over 6 % of them, then linear decay; clipping at 1."""
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(0.06 * epochs * len(loader)), epochs * len(loader)
    )
    with progress_bar("Masked-LM", total=epochs * len(loader)) as bar:
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            model.train()
            for batch in loader:
                loss = model(**batch).loss
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                bar.advance()
                bar.update(status=f"loss {loss.item():.3f}")


@torch.inference_mode()
def masked_lm_loss(
    model: torch.nn.Module,
    texts: list[list[int]],
    collate: Callable[[list[list[int]]], dict[str, torch.Tensor]],
    seed: int,
    batch_size: int = 32,
) -> float:
    """Mean masked-LM loss over `texts` with masks drawn from `seed` (the same masks every call)."""
    if not texts:
        return float("nan")
    model.eval()
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    losses, tokens = 0.0, 0
    for start in range(0, len(texts), batch_size):
        batch = {k: v.to(device) for k, v in collate(texts[start : start + batch_size]).items()}
        masked = int((batch["labels"] != -100).sum())
        losses += float(model(**batch).loss) * masked
        tokens += masked
    torch.random.set_rng_state(state)
    return losses / max(tokens, 1)
