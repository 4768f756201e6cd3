"""Explanations as an HTML page: each text with its words shaded by their scores (red for the
label, blue against it; the score in each word's tooltip), the label and its probability."""

from __future__ import annotations

import html
from collections.abc import Sequence

from headstart.inference.explain import Explanation

STYLE = """body { font: 16px/1.7 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #111; }
article { border-bottom: 1px solid #ddd; padding: 1rem 0; }
h2 { font-size: 1rem; margin: 0 0 .5rem; } .w { border-radius: 3px; padding: 0 1px; }
.legend span { padding: 0 .4rem; border-radius: 3px; } .unread { color: #999; }"""


def shade(score: float, peak: float) -> str:
    """The background of a word: its score as a share of the text's largest, red or blue."""
    alpha = min(abs(score) / peak, 1.0) if peak > 0 else 0.0
    colour = "220, 38, 38" if score > 0 else "37, 99, 235"
    return f"rgba({colour}, {alpha:.2f})"


def text_html(explanation: Explanation) -> str:
    """One text's block: the label, then the text with every word it read shaded."""
    text, peak = explanation.text, max((abs(score) for score in explanation.scores), default=0.0)
    pieces, position = [], 0
    for number, ((start, end), score) in enumerate(zip(explanation.spans, explanation.scores, strict=True)):
        pieces.append(html.escape(text[position:start]))
        word = html.escape(text[start:end])
        if number < explanation.read:
            style = f"background: {shade(score, peak)}"
            pieces.append(f'<span class="w" style="{style}" title="{score:+.4f}">{word}</span>')
        else:
            pieces.append(f'<span class="unread" title="beyond the model\'s window">{word}</span>')
        position = end
    pieces.append(html.escape(text[position:]))
    label, method = html.escape(explanation.label), explanation.method
    heading = f"{label} · p = {explanation.probability:.3f} · {method}"
    return f"<article><h2>{heading}</h2><p>{''.join(pieces)}</p></article>"


def explanations_html(explanations: Sequence[Explanation]) -> str:
    """The page of every explanation."""
    blocks = "\n".join(text_html(explanation) for explanation in explanations)
    legend = (
        '<p class="legend"><span style="background: rgba(220, 38, 38, .6)">for the label</span> '
        '<span style="background: rgba(37, 99, 235, .6)">against it</span> '
        '<span class="unread">not read (beyond the window)</span></p>'
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>headstart explain</title>'
        f"<style>{STYLE}</style></head><body><h1>Why the run said that</h1>{legend}\n"
        f"{blocks}\n</body></html>\n"
    )
