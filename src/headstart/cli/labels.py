"""`headstart labels aggregate` and `headstart labels audit`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from headstart.cli.options import AsJson, Quiet, config_flags, given, with_flags
from headstart.cli.output import Output
from headstart.config import TrainConfig

app = typer.Typer(
    name="labels",
    no_args_is_help=True,
    help="Crowd labels: aggregate several annotators' answers, audit a labelled file, prelabel with an LLM.",
)


Answers = Annotated[
    list[Path],
    typer.Argument(
        help="Files of (item id, annotator, label) rows, optionally with the "
        "item's text; one per annotation round, in order.",
        show_default=False,
    ),
]
GoldOut = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        help="Gold labels: item, label, confidence (CSV, JSONL or Parquet).",
        show_default=False,
    ),
]
Method = Annotated[
    str,
    typer.Option(
        help="mv, wawa, ds (Dawid-Skene), one-coin-ds, glad, mace, or crowdlab (annotators and a model "
        "that reads the items' texts)."
    ),
]
Report = Annotated[
    Path | None,
    typer.Option(help="JSON report: rounds, annotators, suspected spammers, agreement.", show_default=False),
]
Queue = Annotated[
    Path | None,
    typer.Option(
        help="Write the items to annotate again (unsure or split), in the answers' format.",
        show_default=False,
    ),
]
Threshold = Annotated[
    float,
    typer.Option(help="Confidence below which an item is unsettled (queued, and not counted as settled)."),
]
Budget = Annotated[
    int | None,
    typer.Option(help="At most this many items in the queue, least confident first.", show_default=False),
]
ItemCol = Annotated[
    str | None, typer.Option(help="Item id column (default: item, item_id, task, ...).", show_default=False)
]
AnnotatorCol = Annotated[
    str | None, typer.Option(help="Annotator column (default: annotator, worker, ...).", show_default=False)
]
Seed = Annotated[int, typer.Option(help="Seed of the methods that draw at random (MACE).")]
ConsensusStrategy = Annotated[
    str,
    typer.Option("--strategy", help="crowdlab: the strategy of the model that scores the items' texts."),
]
ConsensusFolds = Annotated[
    int, typer.Option(help="crowdlab: K of the cross-validation that scores every item out of fold.")
]


@app.command("aggregate")
@with_flags(config_flags(TrainConfig, only=("label_col", "model", "max_length", "device", "precision")))
def aggregate(
    answers: Answers,
    out: GoldOut,
    method: Method = "ds",
    report: Report = None,
    queue: Queue = None,
    threshold: Threshold = 0.9,
    budget: Budget = None,
    item_col: ItemCol = None,
    annotator_col: AnnotatorCol = None,
    seed: Seed = 0,
    strategy: ConsensusStrategy = "features",
    folds: ConsensusFolds = 5,
    as_json: AsJson = False,
    label_col: str | None = None,
    **fields: Any,
) -> None:
    """One label per item from several annotators' answers, with confidence and an annotator report."""
    from headstart.workflows.consensus import aggregate_labels

    config = TrainConfig(data=str(answers[0]), strategy=strategy, **given(fields))
    output = Output(as_json)
    result, facts = aggregate_labels(
        list(answers),
        out,
        method,
        config=config,
        folds=folds,
        report=report,
        queue=queue,
        threshold=threshold,
        budget=budget,
        item_col=item_col,
        annotator_col=annotator_col,
        label_col=label_col,
        seed=seed,
    )
    if as_json:
        output.json(facts)
        return
    headline = {**{k: v for k, v in facts.items() if k not in ("agreement", "rounds")}, **result.agreement}
    undefined = {
        "krippendorff_alpha": "n/a (no item has two answers)",
        "fleiss_kappa": "n/a (items have unequal numbers of answers)",
    }
    rows = [(key, undefined[key] if value is None else value) for key, value in headline.items()]
    rows += [
        (
            f"round {entry['round']}",
            f"{entry['settled']} of {entry['items']} items settled (confidence ≥ {threshold})",
        )
        for entry in facts["rounds"]
    ]
    output.table(f"Aggregated {len(result.labels)} items ({result.method})", ["", ""], rows)
    output.line(f"Wrote {out}" + (f", {report}" if report else "") + (f", {queue}" if queue else ""))


LabelledFile = Annotated[
    Path, typer.Argument(help="Labelled file (text and label columns) to check.", show_default=False)
]
ReviewOut = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        help="Review file: row, text, given label, suggested label, label quality.",
        show_default=False,
    ),
]
AuditStrategy = Annotated[
    str,
    typer.Option(
        "--strategy",
        help="Strategy of the cross-validated models; features is fast (embeddings computed once).",
    ),
]
Folds = Annotated[int, typer.Option(help="K of the K-fold cross-validation.")]


@app.command("audit")
@with_flags(
    config_flags(TrainConfig, only=("model", "max_length", "text_col", "label_col", "device", "precision"))
)
def audit(
    data: LabelledFile,
    out: ReviewOut,
    strategy: AuditStrategy = "features",
    folds: Folds = 5,
    quiet: Quiet = False,
    as_json: AsJson = False,
    **fields: Any,
) -> None:
    """Rank likely label errors: out-of-fold probabilities by K-fold cross-validation, ranked by cleanlab."""
    from headstart.workflows.audit import audit as audit_labels
    from headstart.workflows.audit import write_review

    output = Output(as_json, quiet)
    options = given(fields)
    config = TrainConfig(data=str(data), strategy=strategy, **options)
    result = audit_labels(data, config, folds, options.get("text_col"), options.get("label_col"))
    write_review(result, out)
    if as_json:
        output.json({"out": str(out), "flagged": len(result.review), "rows": len(result.probabilities)})
    output.line(
        f"{len(result.review)} of {len(result.probabilities)} labels look wrong; review them in {out}"
    )


TextsFile = Annotated[
    Path,
    typer.Argument(help="Texts to label (a text column, and an id/item column if any).", show_default=False),
]
AnswersOut = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        help="Answers in the crowd format: item, annotator (the model), label, text.",
        show_default=False,
    ),
]
Endpoint = Annotated[
    str,
    typer.Option(
        help="Base URL of an OpenAI-compatible API, e.g. http://localhost:8000/v1.", show_default=False
    ),
]
ChatModel = Annotated[
    str, typer.Option("--model", help="The chat model's name at the endpoint.", show_default=False)
]
LabelSet = Annotated[
    str,
    typer.Option("--labels", help="The label set, comma-separated: business,sport,tech.", show_default=False),
]
ApiKeyEnv = Annotated[
    str | None,
    typer.Option(
        help="Environment variable holding the API key (default: $OPENAI_API_KEY, or none).",
        show_default=False,
    ),
]
Descriptions = Annotated[
    Path | None, typer.Option(help="YAML or JSON mapping each label to what it means.", show_default=False)
]
Shots = Annotated[int, typer.Option(help="Labelled examples shown to the model in each prompt.")]
Examples = Annotated[
    Path | None, typer.Option(help="Labelled file the --shots examples are drawn from.", show_default=False)
]
SendRaw = Annotated[
    bool, typer.Option(help="Send texts as they are, without pseudonymising personal data first.")
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        help="Pseudonym key (32-byte hex; created, mode 600, if missing); default CACHE.key.",
        show_default=False,
    ),
]
Cache = Annotated[
    Path | None,
    typer.Option(
        help="Responses kept as they arrive, to resume; default OUT.cache.jsonl.", show_default=False
    ),
]
PrelabelReport = Annotated[
    Path | None,
    typer.Option(
        "--report", help="JSON report: answered, unparseable and failed items, tokens.", show_default=False
    ),
]
Concurrency = Annotated[int, typer.Option(help="Requests in flight at once.")]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for one response.")]
Retries = Annotated[
    int, typer.Option(help="Retries of a request on 429, 5xx or a lost connection, with backoff.")
]
TextCol = Annotated[
    str | None, typer.Option(help="Text column (default: text, sentence, ...).", show_default=False)
]
ShotSeed = Annotated[int, typer.Option("--seed", help="Seed of the examples' draw.")]


@app.command("prelabel")
def prelabel(
    data: TextsFile,
    out: AnswersOut,
    endpoint: Endpoint,
    model: ChatModel,
    labels: LabelSet,
    api_key_env: ApiKeyEnv = None,
    descriptions: Descriptions = None,
    shots: Shots = 0,
    examples: Examples = None,
    send_raw: SendRaw = False,
    key_file: KeyFile = None,
    cache: Cache = None,
    report: PrelabelReport = None,
    concurrency: Concurrency = 4,
    timeout: Timeout = 60.0,
    max_retries: Retries = 4,
    text_col: TextCol = None,
    seed: ShotSeed = 0,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """An LLM as one more annotator: any OpenAI-compatible chat endpoint labels each text."""
    from headstart.workflows.prelabel import prelabel as ask_model

    output = Output(as_json, quiet)
    facts = ask_model(
        data,
        out,
        endpoint=endpoint,
        model=model,
        labels=labels.split(","),
        api_key_env=api_key_env,
        descriptions=descriptions,
        shots=shots,
        examples=examples,
        send_raw=send_raw,
        key_file=key_file,
        cache=cache,
        report=report,
        concurrency=concurrency,
        timeout=timeout,
        max_retries=max_retries,
        text_col=text_col,
        seed=seed,
    )
    if as_json:
        output.json(facts)
        return
    rows = [(key, len(value) if isinstance(value, list | dict) else value) for key, value in facts.items()]
    output.table(f"{model} labelled {facts['answered']} of {facts['texts']} texts", ["", ""], rows)
    output.line(f"Wrote {out}" + (f", {report}" if report else ""))
