"""`labels prelabel`: an LLM as one more annotator. The LLM is a stand-in: a loopback server that
speaks the OpenAI chat-completions protocol and answers from a scripted confusion matrix
(tests/llm_server.py), since no LLM weights install offline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.llm_server import Script, chat_server

import headstart
from headstart.cli import main
from headstart.data.bundled import load_bundled
from headstart.labels.aggregate import aggregate, read_rounds
from headstart.labels.simulate import simulate_crowd
from headstart.workflows.prelabel import prelabel


@pytest.fixture(scope="module")
def bbc() -> pd.DataFrame:
    frame = load_bundled("bbc-news")
    return frame.set_axis(frame.index.astype(str)).sample(400, random_state=1)


def texts_file(frame: pd.DataFrame, path: Path) -> Path:
    frame.rename_axis("id").reset_index()[["id", "text"]].to_csv(path, index=False)
    return path


def script_for(frame: pd.DataFrame, **faults: object) -> Script:
    return Script(dict(zip(frame.text, frame.label, strict=True)), sorted(frame.label.unique()), **faults)  # type: ignore[arg-type]


def test_prelabel_aggregate_train_loop(bbc: pd.DataFrame, tmp_path: Path) -> None:
    """The LLM (scripted 80 % right) beside a human crowd with 30 % spammers: Dawid-Skene's
    estimate of its skill matches the script, and an encoder trains on the aggregate."""
    script = script_for(bbc, accuracy=0.8)
    with chat_server(script) as url:
        facts = prelabel(
            texts_file(bbc, tmp_path / "texts.csv"),
            tmp_path / "llm.csv",
            endpoint=url,
            model="scripted-llm",
            labels=script.labels,
            send_raw=True,  # the script looks texts up; pseudonymisation has its own test
        )
    assert facts["answered"] == 400 and facts["prompt_tokens"] > 0
    humans, _ = simulate_crowd(bbc["label"], per_item=3, spammers=0.3, seed=5)
    humans.assign(text=bbc["text"].reindex(humans["task"]).to_numpy()).rename(
        columns={"task": "item", "worker": "annotator"}
    ).to_csv(tmp_path / "humans.csv", index=False)
    answers = read_rounds([tmp_path / "llm.csv", tmp_path / "humans.csv"])
    report = aggregate(answers, "ds").annotators.set_index("annotator")
    llm = pd.read_csv(tmp_path / "llm.csv", dtype=str)
    right = (llm["label"] == bbc["label"].reindex(llm["item"]).to_numpy()).mean()
    assert abs(report.at["scripted-llm", "estimated_skill"] - 0.8) <= 0.05, (
        report.loc["scripted-llm"],
        right,
    )
    pd.concat([pd.read_csv(tmp_path / "llm.csv"), pd.read_csv(tmp_path / "humans.csv")]).to_csv(
        tmp_path / "all.csv", index=False
    )
    run = headstart.train(
        annotations=str(tmp_path / "all.csv"), out=tmp_path / "run", strategy="features", max_length=64
    )
    assert run.metrics["test"]["accuracy"] >= 0.8  # against the held-out items' consensus


def test_retries_an_unparseable_answer_and_resuming_from_the_cache(bbc: pd.DataFrame, tmp_path: Path) -> None:
    few = bbc.head(12)
    script = script_for(few, fail_first=[429, 500], malformed={few.text.iloc[3]})
    data = texts_file(few, tmp_path / "texts.csv")
    options = {"endpoint": "", "model": "m", "labels": script.labels, "send_raw": True, "concurrency": 2}
    with chat_server(script) as url:
        options["endpoint"] = url
        first = prelabel(data, tmp_path / "a.csv", **options)  # type: ignore[arg-type]
        assert len(script.requests) == 12 + 2  # the two faults were retried
        assert first["unparseable"] == [few.index[3]] and first["failed"] == {} and first["answered"] == 11
        again = prelabel(data, tmp_path / "a.csv", **options)  # type: ignore[arg-type]
        assert len(script.requests) == 14 and again["from_cache"] == 12 and again["prompt_tokens"] == 0
        texts_file(bbc.head(20), tmp_path / "more.csv")
        more = prelabel(
            tmp_path / "more.csv", tmp_path / "b.csv", cache=tmp_path / "a.csv.cache.jsonl", **options
        )  # type: ignore[arg-type]
    assert len(script.requests) == 14 + 8 and more["from_cache"] == 12
    assert not (tmp_path / "a.csv.cache.jsonl").read_text().count(few.text.iloc[0][:40])  # hashes, not texts
    assert len(pd.read_csv(tmp_path / "a.csv")) == 11


def test_personal_data_is_pseudonymised_before_it_leaves(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        {
            "text": [
                f"Write to jane.doe{i}@example.com or call +44 20 7946 0{i:03d} about the match."
                for i in range(6)
            ],
            "label": ["sport", "business"] * 3,
        }
    )
    rows.to_csv(tmp_path / "texts.csv", index=False)
    rows.to_csv(tmp_path / "examples.csv", index=False)
    script = Script({}, ["business", "sport"])
    with chat_server(script) as url:
        prelabel(
            tmp_path / "texts.csv",
            tmp_path / "a.csv",
            endpoint=url,
            model="m",
            labels=["sport", "business"],
            shots=2,
            examples=tmp_path / "examples.csv",
        )
        sent = json.dumps(script.requests)
        assert "example.com" not in sent and "7946" not in sent and "<EMAIL_" in sent
        assert all(
            len(body["messages"]) == 1 + 2 * 2 + 1 for body in script.requests
        )  # 2 shots, each a turn pair
        assert (
            pd.read_csv(tmp_path / "a.csv")["text"].str.contains("example.com").all()
        )  # kept locally as given
        script.requests.clear()
        prelabel(
            tmp_path / "texts.csv",
            tmp_path / "raw.csv",
            endpoint=url,
            model="m",
            labels=["sport", "business"],
            send_raw=True,
        )
        assert "jane.doe0@example.com" in json.dumps(script.requests)


def test_a_server_without_structured_output_is_asked_with_the_prompt_alone(
    bbc: pd.DataFrame, tmp_path: Path
) -> None:
    few = bbc.head(6)
    script = script_for(few, accuracy=1.0, structured=False)
    with chat_server(script) as url:
        facts = prelabel(
            texts_file(few, tmp_path / "t.csv"),
            tmp_path / "a.csv",
            endpoint=url,
            model="m",
            labels=script.labels,
            send_raw=True,
            concurrency=1,
        )
    assert facts["structured_output"] is False and facts["answered"] == 6
    assert "response_format" in script.requests[0] and "response_format" not in script.requests[-1]
    answers = pd.read_csv(tmp_path / "a.csv", dtype=str)
    assert (answers["label"] == few["label"].reindex(answers["item"]).to_numpy()).all()


def test_cli_prelabel_and_its_one_line_errors(
    bbc: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    few = bbc.head(5)
    data = texts_file(few, tmp_path / "t.csv")
    labels = ",".join(sorted(bbc.label.unique()))
    script = script_for(few)
    with chat_server(script) as url:
        arguments = [
            "labels",
            "prelabel",
            str(data),
            "-o",
            str(tmp_path / "a.csv"),
            "--endpoint",
            url,
            "--model",
            "m",
        ]
        with pytest.raises(SystemExit) as stop:
            main(
                [*arguments, "--labels", labels, "--send-raw", "--report", str(tmp_path / "r.json"), "--json"]
            )
        assert stop.value.code == 0, capsys.readouterr().err
        assert (
            json.loads(capsys.readouterr().out)["texts"] == 5
            and json.loads((tmp_path / "r.json").read_text())["answered"] == 5
        )
        with pytest.raises(SystemExit) as stop:
            main([*arguments, "--labels", labels, "--shots", "2"])
        assert stop.value.code == 2 and "--shots needs --examples" in capsys.readouterr().err
    closed = [
        "labels",
        "prelabel",
        str(data),
        "-o",
        str(tmp_path / "none.csv"),
        "--endpoint",
        url,
        "--model",
        "m",
    ]
    with pytest.raises(SystemExit) as stop:
        main([*closed, "--labels", labels, "--send-raw", "--max-retries", "0", "--timeout", "2"])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and "No request to" in error and "Traceback" not in error
    assert not (tmp_path / "none.csv").exists()
