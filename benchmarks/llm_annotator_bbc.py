"""An LLM as one more annotator on BBC News, end to end: `labels prelabel` against a stand-in LLM
(the loopback server of tests/llm_server.py, speaking the OpenAI protocol and answering from a
scripted confusion matrix, 80 % right: no LLM weights install offline), a simulated human crowd
(3 answers per article, 30 % spammers), their labels alone and aggregated by Dawid-Skene, and a
`features` encoder (MiniLM, 128 tokens) trained on each set of labels of 80 % of the articles and
tested against the gold labels of the other 20 %.

    python benchmarks/llm_annotator_bbc.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the stand-in server lives in tests/

from tests.llm_server import Script, chat_server

import headstart
from headstart.data.bundled import load_bundled
from headstart.labels.aggregate import aggregate, read_rounds
from headstart.labels.simulate import simulate_crowd
from headstart.progress import quiet_libraries
from headstart.workflows.prelabel import prelabel

ACCURACY = 0.8


def main() -> None:
    quiet_libraries()
    bbc = load_bundled("bbc-news")
    bbc = bbc.set_axis(bbc.index.astype(str))
    held_out = bbc.sample(frac=0.2, random_state=0).index
    folder = Path(tempfile.mkdtemp(prefix="headstart-llm-"))
    bbc.rename_axis("id").reset_index()[["id", "text"]].to_csv(folder / "texts.csv", index=False)
    script = Script(
        dict(zip(bbc.text, bbc.label, strict=True)), sorted(bbc.label.unique()), accuracy=ACCURACY
    )
    with chat_server(script) as url:
        facts = prelabel(
            folder / "texts.csv",
            folder / "llm.csv",
            endpoint=url,
            model="llm",
            labels=script.labels,
            send_raw=True,
        )
    humans, _ = simulate_crowd(bbc["label"], per_item=3, spammers=0.3, seed=5)
    humans.rename(columns={"task": "item", "worker": "annotator"}).to_csv(folder / "humans.csv", index=False)
    sources = {
        "LLM alone": ["llm.csv"],
        "humans alone (DS)": ["humans.csv"],
        "LLM + humans (DS)": ["llm.csv", "humans.csv"],
    }
    test = bbc.loc[held_out, ["text", "label"]]
    test.to_csv(folder / "test.csv", index=False)
    print(
        f"BBC News, {len(bbc)} articles; the stand-in LLM is scripted {ACCURACY:.0%} right; "
        f"{facts['prompt_tokens']:,} prompt tokens\n"
    )
    print(
        "| labels from | label accuracy (all articles) | LLM's estimated skill "
        "| encoder trained on them: test accuracy |"
    )
    print("| --- | --- | --- | --- |")
    for number, (name, files) in enumerate(sources.items()):
        answers = read_rounds([folder / file for file in files])
        result = aggregate(answers, "mv" if name == "LLM alone" else "ds")
        labels = result.labels.set_index("item")["label"]
        accuracy = (labels == bbc["label"].reindex(labels.index)).mean()
        skills = result.annotators.set_index("annotator")["estimated_skill"]
        skill = f"{skills['llm']:.3f}" if name != "LLM alone" and "llm" in skills else "–"
        rows = pd.DataFrame({"text": bbc["text"].reindex(labels.index), "label": labels})
        tested = encoder_accuracy(rows.drop(held_out, errors="ignore"), folder, f"labels-{number}")
        print(f"| {name} | {accuracy:.3f} | {skill} | {tested:.3f} |", flush=True)
    gold = encoder_accuracy(bbc.drop(held_out)[["text", "label"]], folder, "gold")
    print(f"| gold labels | 1.000 | – | {gold:.3f} |")


def encoder_accuracy(rows: pd.DataFrame, folder: Path, name: str) -> float:
    """Test accuracy (against gold) of a `features` run trained on `rows`."""
    rows.to_csv(folder / f"{name}.csv", index=False)
    run = headstart.train(
        folder / f"{name}.csv",
        test_data=str(folder / "test.csv"),
        out=folder / f"run-{name}",
        strategy="features",
        max_length=128,
    )
    return float(run.metrics["test"]["accuracy"])


if __name__ == "__main__":
    main()
