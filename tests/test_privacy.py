"""Privacy: a seeded corpus with 600 planted structured values (tests/pii_corpus.py) must come out
with none of them left, consistently pseudonymized per key, and exactly re-identified."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from tests.pii_corpus import KINDS, pii_corpus

from headstart.cli import main
from headstart.privacy.pseudonyms import PSEUDONYM


def run_cli(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    texts, values = pii_corpus(600, seed=0)
    path = tmp_path_factory.mktemp("pii") / "tickets.csv"
    pd.DataFrame({"id": range(len(texts)), "text": texts, "label": ["a", "b"] * 300}).to_csv(
        path, index=False
    )
    return path, values


def test_pseudonymize_leaves_no_planted_value_and_reidentify_restores_the_text(
    corpus: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, values = corpus
    run_cli(
        [
            "privacy",
            "pseudonymize",
            str(path),
            "-o",
            str(tmp_path / "out.csv"),
            "--key-file",
            str(tmp_path / "key"),
        ]
    )
    written = (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert len(values) >= 500 and [v for v in values if v in written] == []
    assert not any(v in (tmp_path / "out.csv.vault").read_text() for v in values)  # the mapping is encrypted
    assert oct((tmp_path / "key").stat().st_mode)[-3:] == "600"

    run_cli(
        [
            "privacy",
            "reidentify",
            str(tmp_path / "out.csv"),
            "-o",
            str(tmp_path / "back.csv"),
            "--key-file",
            str(tmp_path / "key"),
        ]
    )
    assert pd.read_csv(tmp_path / "back.csv").text.tolist() == pd.read_csv(path).text.tolist()


def test_pseudonyms_are_consistent_under_one_key_and_differ_under_another(
    corpus: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, _ = corpus
    head = pd.read_csv(path).head(60)
    head.to_csv(tmp_path / "first.csv", index=False)
    head.iloc[::-1].to_csv(tmp_path / "second.csv", index=False)  # the same values, in another file and order
    for name, key in (("first", "key"), ("second", "key"), ("first", "other")):
        run_cli(
            [
                "privacy",
                "pseudonymize",
                str(tmp_path / f"{name}.csv"),
                "-o",
                str(tmp_path / f"{name}-{key}.csv"),
                "--key-file",
                str(tmp_path / key),
            ]
        )

    def tokens(name: str) -> list[str]:
        frame = pd.read_csv(tmp_path / f"{name}.csv").sort_values("id")
        return [PSEUDONYM.findall(text) for text in frame.text]

    assert tokens("first-key") == tokens("second-key") and all(tokens("first-key"))
    assert all(a != b for a, b in zip(tokens("first-key"), tokens("first-other"), strict=True))


def test_scan_counts_by_type_and_column_without_values(
    corpus: tuple[Path, list[str]], capsys: pytest.CaptureFixture
) -> None:
    path, values = corpus
    run_cli(["privacy", "scan", str(path), "--json"])
    printed = capsys.readouterr().out
    counts = {row["type"]: row["count"] for row in json.loads(printed) if row["column"] == "text"}
    assert set(counts) == {"EMAIL", "PHONE", "IBAN", "CARD", "IP", "URL"}
    assert all(count >= 600 // len(KINDS) for count in counts.values())
    assert not any(value in printed for value in values)


def test_a_wrong_key_cannot_reidentify(
    corpus: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path, _ = corpus
    pd.read_csv(path).head(5).to_csv(tmp_path / "few.csv", index=False)
    run_cli(
        [
            "privacy",
            "pseudonymize",
            str(tmp_path / "few.csv"),
            "-o",
            str(tmp_path / "out.csv"),
            "--key-file",
            str(tmp_path / "key"),
        ]
    )
    run_cli(
        [
            "privacy",
            "pseudonymize",
            str(tmp_path / "few.csv"),
            "-o",
            str(tmp_path / "x.csv"),
            "--key-file",
            str(tmp_path / "other"),
        ]
    )
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "privacy",
                "reidentify",
                str(tmp_path / "out.csv"),
                "-o",
                str(tmp_path / "back.csv"),
                "--key-file",
                str(tmp_path / "other"),
            ]
        )
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "does not open" in err and not (tmp_path / "back.csv").exists()
    assert re.search(r"<(EMAIL|PHONE|IBAN|CARD|IP|URL)_[0-9a-f]{12}>", (tmp_path / "out.csv").read_text())


def test_a_run_made_with_pseudonymize_holds_no_planted_value(
    corpus: tuple[Path, list[str]], tiny_model: str, tmp_path: Path
) -> None:
    path, values = corpus
    key = tmp_path / "key"
    run_cli(
        [
            "train",
            str(path),
            "--model",
            tiny_model,
            "--strategy",
            "finetune",
            "--epochs",
            "1",
            "--max-length",
            "48",
            "--pseudonymize",
            str(key),
            "--out",
            str(tmp_path / "run"),
            "--quiet",
        ]
    )
    run_cli(["evaluate", str(tmp_path / "run"), "--data", str(path), "--quiet"])
    run_cli(
        [
            "predict",
            str(tmp_path / "run"),
            str(path),
            "-o",
            str(tmp_path / "run" / "predictions.csv"),
            "--quiet",
        ]
    )
    for file in (tmp_path / "run").rglob("*"):
        if file.is_file():
            content = file.read_bytes()
            assert not [v for v in values if v.encode() in content], file
    predictions = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert predictions.text.str.contains("<EMAIL_").any() and len(predictions) == len(values)


def test_a_ner_run_adds_person_and_place_names(tmp_path: Path, tiny_options: dict) -> None:
    from tests.test_ner import conll_text, synthetic_sentences

    import headstart

    (tmp_path / "names.conll").write_text(conll_text(synthetic_sentences(200, seed=5)), encoding="utf-8")
    names = headstart.train(
        tmp_path / "names.conll",
        out=tmp_path / "names",
        strategy="finetune",
        **{**tiny_options, "epochs": 3, "max_length": 48},
    )
    pd.DataFrame(
        {"text": ["yesterday Dana met Erik in Lima , mail dana@example.com", "the new year"]}
    ).to_csv(tmp_path / "t.csv", index=False)
    run_cli(
        [
            "privacy",
            "pseudonymize",
            str(tmp_path / "t.csv"),
            "-o",
            str(tmp_path / "o.csv"),
            "--key-file",
            str(tmp_path / "key"),
            "--names-run",
            str(names.path),
        ]
    )
    first = pd.read_csv(tmp_path / "o.csv").text[0]
    assert not any(word in first for word in ("Dana", "Erik", "Lima", "dana@example.com")), first
    assert "<PERSON_" in first and "<PLACE_" in first and "<EMAIL_" in first
    run_cli(
        [
            "privacy",
            "reidentify",
            str(tmp_path / "o.csv"),
            "-o",
            str(tmp_path / "b.csv"),
            "--key-file",
            str(tmp_path / "key"),
        ]
    )
    assert pd.read_csv(tmp_path / "b.csv").text.tolist() == pd.read_csv(tmp_path / "t.csv").text.tolist()
    with pytest.raises(SystemExit) as stop:
        main(["privacy", "scan", str(tmp_path / "t.csv"), "--names-run", str(tmp_path / "names" / "model")])
    assert stop.value.code == 2
