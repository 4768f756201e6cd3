"""Full fine-tuning: every encoder weight and a new classification head train together."""

from __future__ import annotations

from headstart.strategies.base import EncoderTuning, register_strategy


@register_strategy
class Finetune(EncoderTuning):
    """Every weight trains: plain fine-tuning through the shared loop."""

    name = "finetune"
    summary = (
        "All weights train (AdamW, linear warm-up then decay, clipping, early stopping on the dev score)."
    )
