"""The one place commands print to: tables and lines for people, one JSON document with --json.

--quiet drops progress bars and status notes; results (tables, JSON) always print. Progress,
warnings and errors go to stderr, so stdout holds only results.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from headstart.progress import set_quiet

PIPE_WIDTH = 200


class Output:
    """How a command shows its result: human tables or JSON, with or without status notes."""

    def __init__(self, as_json: bool = False, quiet: bool = False) -> None:
        self.as_json = as_json
        self.quiet = quiet
        # A pipe has no width: give it room (rich would assume 80 columns and wrap every cell).
        self.console = Console(
            highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH
        )
        set_quiet(quiet)

    def json(self, payload: Any) -> None:
        """Print a JSON document (only in --json mode; other modes print tables instead)."""
        self.console.print_json(json.dumps(payload))

    def line(self, text: str) -> None:
        """A line of the result for people (not printed with --json)."""
        if not self.as_json:
            self.console.print(text)

    def note(self, text: str) -> None:
        """A status note, e.g. which files were written (not printed with --quiet or --json)."""
        if not (self.as_json or self.quiet):
            self.console.print(text)

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table for people. Its first column (names people copy) is never wrapped or cut; the
        others wrap when the terminal is narrow."""
        cells = [[str(cell) for cell in row] for row in rows]
        table = Table(title=title, show_header=any(columns))  # a list of facts needs no header
        widest = max([len(columns[0]), *(len(row[0]) for row in cells)])
        table.add_column(columns[0], no_wrap=True, min_width=widest)
        for column in columns[1:]:
            table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*row)
        self.console.print(table)

    def rows(self, rows: list[dict[str, str]], title: str) -> None:
        """Dict rows (all with the same keys) as a table."""
        self.table(title, list(rows[0]), [list(row.values()) for row in rows])

    def metrics(self, metrics: dict[str, Any], title: str, extra: dict[str, Any] | None = None) -> None:
        """Test or evaluation metrics: JSON, or tables of scores, classes, languages and transfer."""
        if self.as_json:
            self.json({**metrics, **({"cost": extra} if extra else {})})
            return
        scores = [
            (key, f"{value:.4f}" if isinstance(value, float) else str(value))
            for key, value in metrics.items()
            if isinstance(value, (int, float))
        ]
        scores += [(key, _cell(value)) for key, value in (extra or {}).items()]
        self.table(title, ["metric", "value"], scores)
        if "per_class" in metrics:
            self.table(
                None,
                ["class", "precision", "recall", "f1", "support"],
                [
                    (label, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", s["support"])
                    for label, s in metrics["per_class"].items()
                ],
            )
        if metrics.get("by_language"):
            names = [k for k in next(iter(metrics["by_language"].values())) if k != "examples"]
            self.table(
                "Per language",
                ["language", "examples", *names],
                [
                    (language, s["examples"], *(f"{s[n]:.4f}" for n in names))
                    for language, s in metrics["by_language"].items()
                ],
            )
        if metrics.get("transfer"):
            self.line(transfer_line(metrics["transfer"]))


def transfer_line(transfer: dict[str, Any]) -> str:
    """A zero-shot cross-lingual transfer in one sentence."""
    in_language = "unknown" if transfer["in_language"] is None else f"{transfer['in_language']:.4f}"
    change = "" if transfer["change_points"] is None else f" ({transfer['change_points']:+.2f} points)."
    return (
        f"Zero-shot cross-lingual transfer: trained on {', '.join(transfer['trained_on'])}, evaluated on "
        f"{', '.join(transfer['evaluated_on'])}. {transfer['metric']}: "
        f"{in_language} in-language (test split) → "
        f"{transfer['transferred']:.4f} transferred{change}"
    )


def _cell(value: Any) -> str:
    """A cost figure as people read it; a device as `cpu (its CPU, 2 threads, fp32)`."""
    if isinstance(value, dict) and "device" in value:
        where, threads = value.get("gpu") or value.get("cpu", "?"), value.get("threads", "?")
        return f"{value['device']} ({where}, {threads} threads, {value.get('precision', 'fp32')})"
    return f"{value:,}" if isinstance(value, int) else str(value)
