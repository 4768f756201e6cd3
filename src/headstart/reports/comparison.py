"""The comparison's outputs: leaderboard CSV and Markdown, Pareto plot, self-contained HTML report."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from headstart.data.io import write_table_atomic
from headstart.evaluation.plots import plot_pareto
from headstart.files import write_text_atomic
from headstart.tasks.metrics import METRIC_NAMES


def _fmt(value: float, std: float | None = None, digits: int = 3) -> str:
    return f"{value:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def quality_metrics(board: pd.DataFrame) -> list[str]:
    """The leaderboard's quality metrics, the ranking one last."""
    return [column.removesuffix("_mean") for column in board.columns if column.endswith("_mean")]


def table_rows(board: pd.DataFrame) -> list[dict[str, str]]:
    """The leaderboard as people read it (also what the terminal, Markdown and HTML show)."""
    quality = quality_metrics(board)
    return [
        {
            "model": row["model"],
            "strategy": row["strategy"] + (" ★" if row["pareto"] else ""),
            "seeds": str(row["seeds"]),
            **{
                METRIC_NAMES.get(name, name): _fmt(row[f"{name}_mean"], row[f"{name}_std"])
                for name in quality
            },
            "train s": f"{row['train_seconds']:.1f}",
            "latency p50 ms": f"{row['latency_ms_p50']:.1f}",
            "texts/s": f"{row['batch_texts_per_second']:.1f}",
            "size MiB": f"{row['model_size_bytes'] / 2**20:.1f}",
            "trainable": f"{row['parameters_trainable']:,.0f}",
        }
        for row in board.to_dict("records")
    ]


def pareto_note(board: pd.DataFrame) -> str:
    """The legend of the leaderboard's star."""
    metric = METRIC_NAMES.get(quality_metrics(board)[-1], "score")
    return f"★ on the Pareto front of {metric} against single-text latency."


def markdown_table(rows: list[dict[str, str]], note: str) -> str:
    """Rows as a Markdown table, with a note below."""
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row[h] for h in header) + " |" for row in rows]
    return "\n".join(lines) + f"\n\n{note}\n"


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def maps_html(maps: list[str]) -> str:
    """Links to the maps of the test texts (pages beside the report), each shown by its PNG."""
    figures = "".join(
        f'<figure><a href="{html.escape(page)}"><img alt="map of {html.escape(Path(page).stem)}" '
        f'src="{html.escape(str(Path(page).with_suffix(".png")))}"></a>'
        f"<figcaption>{html.escape(Path(page).stem)}</figcaption></figure>"
        for page in maps
    )
    return f'<h2>Maps of the test texts</h2><div id="maps">{figures}</div>' if maps else ""


def html_report(
    rows: list[dict[str, str]],
    runs: pd.DataFrame,
    pareto_png: Path,
    note: str,
    ranking: str,
    maps: list[str] | None = None,
) -> str:
    """An HTML page: the leaderboard, the Pareto plot, each run's confusion matrix (all inline)
    and links to the maps of the test texts (pages beside it)."""
    header = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values()) + "</tr>" for row in rows
    )
    matrices = "".join(
        f'<figure><img alt="confusion matrix of {html.escape(Path(run).name)}" '
        f'src="{_png_data_uri(Path(run) / "confusion_matrix.png")}">'
        f"<figcaption>{html.escape(Path(run).name)}: {METRIC_NAMES.get(ranking, ranking)} "
        f"{score:.4f}</figcaption></figure>"
        for run, score in zip(runs["run"], runs[ranking], strict=True)
        if (Path(run) / "confusion_matrix.png").is_file()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>headstart comparison</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #eef; }} td:nth-child(-n+2) {{ text-align: left; }}
figure {{ display: inline-block; margin: 8px; }} figure img {{ width: 320px; }}
</style></head><body>
<h1>headstart comparison</h1>
<p>Mean ± standard deviation over seeds on one fixed test split. {html.escape(note)}</p>
<table id="leaderboard"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>
<h2>Accuracy against latency</h2><img id="pareto" alt="Pareto plot" src="{_png_data_uri(pareto_png)}">
{"<h2>Confusion matrices</h2>" + matrices if matrices else ""}
{maps_html(maps or [])}
</body></html>
"""


def write_comparison(
    out: Path, runs: pd.DataFrame, board: pd.DataFrame, maps: list[str] | None = None
) -> None:
    """Every output of a comparison: runs.csv, leaderboard.csv/.md, pareto.png and report.html
    (linking `maps`, pages relative to `out`)."""
    rows, note, ranking = table_rows(board), pareto_note(board), quality_metrics(board)[-1]
    write_table_atomic(runs, out / "runs.csv")
    write_table_atomic(board, out / "leaderboard.csv")
    write_text_atomic(out / "leaderboard.md", markdown_table(rows, note))
    plot_pareto(board, out / "pareto.png", ranking)
    write_text_atomic(out / "report.html", html_report(rows, runs, out / "pareto.png", note, ranking, maps))
