"""`headstart explain`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from headstart.cli.options import AsJson, Quiet
from headstart.cli.output import Output

app = typer.Typer()

RunDir = Annotated[
    Path, typer.Argument(help="A run directory made by `headstart train`.", show_default=False)
]
ExplainOut = Annotated[
    Path,
    typer.Option("--out", "-o", help="HTML page of the explanations; the scores go to the same name .json."),
]
Text = Annotated[
    list[str] | None, typer.Option("--text", help="A text to explain (repeat for more).", show_default=False)
]
Data = Annotated[Path | None, typer.Option(help="A file of texts to explain.", show_default=False)]
Method = Annotated[
    str | None,
    typer.Option(
        help="ig (Integrated Gradients; runs trained by gradients) or occlusion; default: the run's best.",
        show_default=False,
    ),
]
Label = Annotated[
    str | None, typer.Option(help="Explain this label instead of the predicted one.", show_default=False)
]
Limit = Annotated[
    int | None, typer.Option(help="Explain only the first N texts of --data.", show_default=False)
]
TextCol = Annotated[
    str | None, typer.Option(help="Text column of --data (default: text, ...).", show_default=False)
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
MapData = Annotated[
    Path,
    typer.Option(
        help="A file of texts to map; with a label column, mistakes are marked.", show_default=False
    ),
]
MapOut = Annotated[
    Path, typer.Option("--out", "-o", help="HTML page of the map; the PNG and JSON go to the same name.")
]
Projection = Annotated[
    str, typer.Option("--method", help="umap, pca, or auto (umap when umap-learn is installed).")
]
MapLimit = Annotated[int, typer.Option(help="Map a seeded sample of at most N texts.")]
LabelCol = Annotated[
    str | None,
    typer.Option(help="Label column of --data (default: the run's, label, ...).", show_default=False),
]


@app.command()
def explain(
    run: RunDir,
    out: ExplainOut = Path("explain.html"),
    text: Text = None,
    data: Data = None,
    method: Method = None,
    label: Label = None,
    limit: Limit = None,
    text_col: TextCol = None,
    device: Device = "auto",
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Why did the run say that: a score per word, as an HTML page and JSON."""
    from headstart.workflows.explain import explain_run

    output = Output(as_json, quiet)
    explanations = explain_run(
        run,
        out,
        texts=text or None,
        data=data,
        text_col=text_col,
        method=method,
        label=label,
        limit=limit,
        device=device,
    )
    if as_json:
        output.json([explanation.to_dict() for explanation in explanations])
        return
    for explanation in explanations[:5]:
        top = sorted(zip(explanation.scores, explanation.words, strict=True), reverse=True)[:5]
        output.line(
            f"{explanation.label} ({explanation.probability:.3f}): " + ", ".join(word for _, word in top)
        )
    output.note(f"Wrote {out} and {out.with_suffix('.json')} ({len(explanations)} texts)")


@app.command("map")
def embedding_map(
    run: RunDir,
    data: MapData,
    out: MapOut = Path("map.html"),
    method: Projection = "auto",
    limit: MapLimit = 2000,
    text_col: TextCol = None,
    label_col: LabelCol = None,
    device: Device = "auto",
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Where the run puts each text: a 2-D map (UMAP or PCA) by label, as PNG and HTML."""
    from headstart.workflows.embedding_map import embedding_map as draw_map

    output = Output(as_json, quiet)
    summary = draw_map(
        run,
        data,
        out,
        text_col=text_col,
        label_col=label_col,
        method=method,
        limit=limit,
        device=device,
        show_progress=not (quiet or as_json),
    )
    if as_json:
        output.json(summary)
        return
    wrong = f", {summary['misclassified']} misclassified" if "misclassified" in summary else ""
    drawn = f"{summary['texts']} texts by {summary['method']}{wrong}"
    output.note(f"Wrote {summary['html']} and {summary['png']} ({drawn})")
