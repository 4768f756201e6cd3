"""`headstart map`: the vectors a run's head reads (`Run.embed`), laid out by UMAP or PCA, drawn as
a PNG, an HTML page whose points hover with text and labels, and JSON; linked from `compare`."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import synthetic_rows
from tests.test_compare import render_in_chromium

import headstart
import headstart.evaluation.projection as projection_module
import headstart.inference.embeddings as embeddings_module
from headstart.cli import main
from headstart.workflows.embedding_map import embedding_map

QUICK = {"epochs": 1, "patience": 0, "refit": "no", "checkpoint_every": 0, "max_length": 48}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Labelled texts no run trained on."""
    path = tmp_path_factory.mktemp("held-out") / "held_out.csv"
    pd.DataFrame(synthetic_rows(per_class=20, seed=7)).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def weak_run(toy_csv: Path, tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> headstart.Run:
    """A tiny random BERT after one epoch: it gets many texts wrong, which a map must mark."""
    out = tmp_path_factory.mktemp("runs") / "weak"
    return headstart.train(toy_csv, out=out, model=tiny_model, strategy="finetune", lr=1e-3, **QUICK)


def last_linear(model: torch.nn.Module) -> torch.nn.Linear:
    return [module for module in model.modules() if isinstance(module, torch.nn.Linear)][-1]


@pytest.mark.parametrize("strategy", ["finetune", "features", "tfidf"])
def test_the_embedded_vector_is_what_the_head_reads(
    strategy: str, toy_csv: Path, tiny_model: str, held_out: Path, tmp_path: Path
) -> None:
    run = headstart.train(toy_csv, out=tmp_path / strategy, model=tiny_model, strategy=strategy, **QUICK)
    texts = pd.read_csv(held_out).text.tolist()
    vectors = run.embed(texts, show_progress=False)
    assert vectors.shape[0] == len(texts) and np.isfinite(vectors).all()
    with torch.inference_mode():
        logits = last_linear(run.predictor.classifier)(torch.from_numpy(vectors))
    probabilities = torch.softmax(logits, dim=1).numpy()
    assert np.abs(probabilities - run.predict_proba(texts, show_progress=False)).max() < 1e-5


def test_vectors_wider_than_any_encoders_are_projected_the_same_way_each_time(
    toy_csv: Path, tiny_model: str, held_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = headstart.train(toy_csv, out=tmp_path / "tfidf", model=tiny_model, strategy="tfidf", **QUICK)
    texts = pd.read_csv(held_out).text.tolist()
    width = run.embed(texts, show_progress=False).shape[1]
    monkeypatch.setattr(embeddings_module, "MAX_WIDTH", width - 1)  # as TF-IDF's 200,000 n-grams are
    first, second = (run.embed(texts, show_progress=False) for _ in range(2))
    assert first.shape == (len(texts), embeddings_module.PROJECTED) and np.array_equal(first, second)


def test_the_map_marks_exactly_the_misclassified_texts(
    weak_run: headstart.Run, held_out: Path, tmp_path: Path
) -> None:
    summary = embedding_map(weak_run, held_out, tmp_path / "map.html", method="pca", show_progress=False)
    frame = pd.read_csv(held_out)
    wrong = int((np.array(weak_run.predict(frame.text.tolist(), show_progress=False)) != frame.label).sum())
    assert 0 < wrong < len(frame), "the fixture run must get some texts right and some wrong"
    assert summary["misclassified"] == wrong and summary["texts"] == len(frame)
    assert summary["method"] == "pca"
    page = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert page.count("<circle") == len(frame) and page.count('class="wrong"') == wrong
    assert page.count("true: ") == len(frame) and f"misclassified ({wrong})" in page
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    points = json.loads((tmp_path / "map.json").read_text())["points"]
    assert np.array(points).shape == (len(frame), 2)


def test_texts_are_escaped_and_unlabelled_data_is_coloured_by_prediction(
    weak_run: headstart.Run, tmp_path: Path
) -> None:
    texts = ["<script>alert(1)</script> goal match", "shares & profit", "chip robot", "the league coach"]
    summary = embedding_map(weak_run, pd.DataFrame({"text": texts}), tmp_path / "m.html", method="pca")
    page = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "misclassified" not in summary and "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("predicted: ") == 4 and "true: " not in page


def test_umap_is_the_default_when_installed_and_pca_when_not(
    weak_run: headstart.Run, held_out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = embedding_map(weak_run, held_out, tmp_path / "a.html", limit=40, show_progress=False)
    embedding_map(weak_run, held_out, tmp_path / "b.html", limit=40, show_progress=False)
    assert first["method"] == "umap" and first["texts"] == 40
    points = [json.loads((tmp_path / f"{name}.json").read_text())["points"] for name in "ab"]
    assert points[0] == points[1], "a seeded map is the same map when drawn again"

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        projection_module.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "umap" else find_spec(name, *args),
    )
    assert embedding_map(weak_run, held_out, tmp_path / "c.html", show_progress=False)["method"] == "pca"


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (`make test` installs it as root)",
)
def test_the_map_page_renders_with_a_tooltip_per_point(
    weak_run: headstart.Run, held_out: Path, tmp_path: Path
) -> None:
    embedding_map(weak_run, held_out, tmp_path / "map.html", method="pca", show_progress=False)
    image, dom = render_in_chromium(tmp_path / "map.html", tmp_path, "900,800")
    histogram = image.convert("L").histogram()
    assert max(histogram) < 0.97 * sum(histogram), "the screenshot is (nearly) one colour: blank page"
    tooltips = re.findall(r"<circle[^>]*>\s*<title>([^<]*)</title>", dom)
    assert len(tooltips) == 60 and all("predicted: " in tip for tip in tooltips)


def test_cli_map_and_its_one_line_errors(
    weak_run: headstart.Run, held_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cli.html"
    with pytest.raises(SystemExit) as stop:
        main(["map", str(weak_run.path), "--data", str(held_out), "-o", str(out), "--method=pca", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert stop.value.code == 0 and summary["texts"] == 60 and out.is_file()
    for arguments, message in (
        (["--data", str(held_out), "-o", str(tmp_path / "x.png")], "must be an .html file"),
        (["--data", str(held_out), "-o", str(tmp_path / "x.html"), "--limit", "2"], "--limit must be"),
        (["--data", str(held_out), "-o", str(tmp_path / "x.html"), "--method", "tsne"], "--method must"),
        (["--data", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.html")], "missing.csv"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(["map", str(weak_run.path), *arguments])
        error = capsys.readouterr().err
        assert stop.value.code == 2 and message in error and "Traceback" not in error, error
        assert len(error.strip().splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cli.html", "cli.json", "cli.png"]


def test_a_regression_run_is_refused_in_one_line(tiny_model: str, tmp_path: Path) -> None:
    from tests.test_tasks import regression_rows

    data = tmp_path / "scores.jsonl"
    pd.DataFrame(regression_rows(40, seed=1)).to_json(data, orient="records", lines=True)
    run = headstart.train(data, out=tmp_path / "reg", model=tiny_model, strategy="finetune", **QUICK)
    with pytest.raises(headstart.ConfigError, match="by one class; this run's task is regression"):
        embedding_map(run, data, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
