"""Named entities: CoNLL and JSONL readers, tag repair, sub-word alignment, windows, and a model
trained end to end. The end-to-end data is synthetic (names and places from short lists placed in
filler text), made so that a few seconds of training can learn it."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import FILLER

import headstart
from headstart.cli import main
from headstart.data.dataset import load_splits
from headstart.data.ner import bio_tags, read_conll, spans_to_words, tags_to_spans
from headstart.encoding import Windowing, encode_words
from headstart.tasks import NamedEntities

PEOPLE = ["Alice", "Bob", "Carlos", "Dana", "Erik", "Fatima"]
PLACES = ["Paris", "Berlin", "Lagos", "Lima", "Oslo", "Tokyo"]


def conll_text(sentences: list[list[tuple[str, str]]]) -> str:
    return "\n\n".join("\n".join(f"{word}\t{tag}" for word, tag in sentence) for sentence in sentences) + "\n"


def synthetic_sentences(count: int, seed: int) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        words = [(rng.choice(FILLER), "O") for _ in range(rng.randint(3, 10))]
        for entity in rng.sample([("person", PEOPLE), ("geo-loc", PLACES)], rng.randint(1, 2)):
            kind, names = entity
            name = rng.choice(names).split()
            position = rng.randrange(len(words) + 1)
            words[position:position] = [
                (part, f"{'B' if i == 0 else 'I'}-{kind}") for i, part in enumerate(name)
            ]
        sentences.append(words)
    return sentences


def test_conll_reader_handles_blank_lines_docstart_and_bioes(tmp_path: Path) -> None:
    path = tmp_path / "data.conll"
    path.write_text(
        "-DOCSTART- O\n\nNew\tS-place\nYork\tO\n\n\nBig\tB-org\nApple\tE-org\ninc\tO\n", encoding="utf-8"
    )
    frame = read_conll(path)
    assert len(frame) == 2 and json.loads(frame.tokens[1]) == ["Big", "Apple", "inc"]
    assert bio_tags(json.loads(frame.tags[1]), "x") == (["B-org", "I-org", "O"], 0)
    assert bio_tags(["S-place", "O"], "x") == (["B-place", "O"], 0)


def test_invalid_tag_sequences_are_repaired_and_reported(tmp_path: Path) -> None:
    assert bio_tags(["O", "I-person", "I-person", "B-geo", "I-person"], "x") == (
        ["O", "B-person", "I-person", "B-geo", "B-person"],
        2,
    )
    assert tags_to_spans(["B-person", "I-person", "O", "B-geo"]) == [(0, 2, "person"), (3, 4, "geo")]
    sentences = synthetic_sentences(40, seed=1)
    sentences[0] = [("hello", "O"), ("Alice", "I-person")]  # an I- tag after O
    (tmp_path / "train.conll").write_text(conll_text(sentences), encoding="utf-8")
    with pytest.warns(headstart.DataWarning, match="1 I- tag\\(s\\) .* did not continue an entity"):
        splits = load_splits(str(tmp_path / "train.conll"), seed=1)
    assert splits.task == "ner" and splits.labels[0] == "O"
    assert ("O", "B-person") in set(splits.train.labels + splits.dev.labels + splits.test.labels)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Alice\tB-person\nParis\n", "Line 2 of .* has a word but no tag"),
        ("Alice\tX-person\n", "has tag 'X-person'"),
    ],
)
def test_bad_conll_files_are_one_line_errors(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "bad.conll").write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        main(["train", str(tmp_path / "bad.conll"), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err


def test_character_spans_become_word_tags() -> None:
    text = "Dr. Alice Smith flew to New York."
    words, tags = spans_to_words(
        text, [{"start": 4, "end": 15, "label": "person"}, {"start": 24, "end": 32, "label": "geo"}], "x"
    )
    assert list(zip(words, tags, strict=True))[:5] == [
        ("Dr", "O"),
        (".", "O"),
        ("Alice", "B-person"),
        ("Smith", "I-person"),
        ("flew", "O"),
    ]
    assert tags[-3:] == ["B-geo", "I-geo", "O"]
    with pytest.raises(headstart.DataError, match="outside its text"):
        spans_to_words("short", [{"start": 2, "end": 40, "label": "x"}], "Row 1")


def test_only_the_first_sub_token_of_a_word_carries_its_label(minilm_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    encoded = encode_words(tokenizer, [["Unbelievably", "Alice", "won"]], Windowing(32), [[0, 1, 0]])
    word_ids, labels = encoded.word_ids[0], encoded.label_ids[0]
    assert word_ids.count(0) > 1  # the first word is cut into several sub-tokens
    assert [label for word, label in zip(word_ids, labels, strict=True) if label != -100] == [0, 1, 0]
    assert labels[0] == -100 and labels[-1] == -100  # [CLS], [SEP]
    assert sum(1 for word, label in zip(word_ids, labels, strict=True) if word == 0 and label != -100) == 1


def test_windows_of_a_long_sentence_are_merged_back_onto_every_word(minilm_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    words = [[f"w{i}" for i in range(60)]]
    encoded = encode_words(tokenizer, words, Windowing(16, stride=4))
    assert len(encoded) > 4 and set(encoded.doc_ids) == {0}
    task = NamedEntities(["O", "B-x", "I-x"])
    # Logits that say B-x on every sub-token: every word must come out B-x, none left to the O default.
    import torch

    rows = [torch.tensor([[0.0, 5.0, 0.0]] * len(ids)) for ids in encoded.input_ids]
    outputs = task.text_outputs(rows, encoded, "mean")
    assert outputs[0].shape == (60, 3) and (outputs[0].argmax(axis=1) == 1).all()
    cut = encode_words(tokenizer, words, Windowing(16))  # truncated: words past the window default to O
    assert (
        task.text_outputs([torch.tensor([[0.0, 5.0, 0.0]] * len(cut.input_ids[0]))], cut, "mean")[0].argmax(
            axis=1
        )[-5:]
        == 0
    ).all()


def test_metrics_without_any_entity_are_zero_not_nan() -> None:
    task = NamedEntities(["O", "B-x", "I-x"])
    only_outside = [np.array([[0.9, 0.05, 0.05]] * 3)]  # predicts O for each of three words
    scores = task.metrics(only_outside, [("O", "O", "O")])
    assert scores["f1"] == scores["macro_f1"] == 0.0 and scores["token_accuracy"] == 1.0
    assert scores["per_class"] == {}


def test_ner_trains_predicts_spans_and_saves(tmp_path: Path, tiny_options: dict) -> None:
    (tmp_path / "train.conll").write_text(conll_text(synthetic_sentences(200, seed=2)), encoding="utf-8")
    run = headstart.train(
        tmp_path / "train.conll",
        out=tmp_path / "run",
        strategy="finetune",
        **{**tiny_options, "epochs": 3, "lr": 1e-4, "max_length": 48},
    )
    assert run.config.task == "ner" and run.metrics["test"]["f1"] >= 0.8
    assert set(run.metrics["test"]["per_class"]) == {"person", "geo-loc"}
    text = "yesterday Fatima met Bob in Oslo ."
    (found,) = headstart.load_run(run.path).predict([text])
    assert [(e["label"], text[e["start"] : e["end"]]) for e in found] == [
        ("person", "Fatima"),
        ("person", "Bob"),
        ("geo-loc", "Oslo"),
    ]
    assert all(0 < e["score"] <= 1 for e in found)

    pd.DataFrame({"text": [text, "nothing here"]}).to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "predict",
                str(run.path),
                str(tmp_path / "new.csv"),
                "-o",
                str(tmp_path / "out.jsonl"),
                "--quiet",
            ]
        )
    assert stop.value.code == 0
    written = pd.read_json(tmp_path / "out.jsonl", lines=True)
    assert [e["text"] for e in json.loads(written.entities[0])] == ["Fatima", "Bob", "Oslo"] and json.loads(
        written.entities[1]
    ) == []

    (tmp_path / "test.jsonl").write_text(
        "\n".join(
            json.dumps({"text": t, "entities": e})
            for t, e in [
                (
                    "Alice lives in Paris",
                    [{"start": 0, "end": 5, "label": "person"}, {"start": 15, "end": 20, "label": "geo-loc"}],
                ),
                (
                    "Erik and Dana",
                    [{"start": 0, "end": 4, "label": "person"}, {"start": 9, "end": 13, "label": "person"}],
                ),
            ]
        ),
        encoding="utf-8",
    )
    metrics = run.evaluate(tmp_path / "test.jsonl", out=tmp_path / "ev")
    assert metrics["examples"] == 2 and metrics["f1"] >= 0.75


def test_features_handles_ner_and_peft_refuses_it(tmp_path: Path) -> None:
    (tmp_path / "train.conll").write_text(conll_text(synthetic_sentences(120, seed=3)), encoding="utf-8")
    run = headstart.train(tmp_path / "train.conll", out=tmp_path / "run", strategy="features", max_length=48)
    assert run.metrics["test"]["f1"] >= 0.6 and run.metrics["cost"]["parameters_trainable"] < 10_000
    np.testing.assert_allclose(
        headstart.load_run(run.path).predictor.outputs([["Alice", "in", "Paris"]])[0],
        run.predictor.outputs([["Alice", "in", "Paris"]])[0],
        atol=1e-5,
    )
    with pytest.raises(headstart.ConfigError, match="does not handle ner data"):
        headstart.train(tmp_path / "train.conll", out=tmp_path / "x", strategy="lora", max_length=48)
