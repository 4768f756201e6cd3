"""`headstart explain`: per-word attributions (Integrated Gradients for a fine-tuned run, occlusion
for the others), their faithfulness on BBC News, the HTML page, the CLI and POST /explain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.test_compare import render_in_chromium

import headstart
from headstart.cli import main
from headstart.data.bundled import load_bundled
from headstart.workflows.explain import explain_run, faithfulness
from headstart.workflows.serving import create_app

OPTIONS = {"max_length": 64, "refit": "no"}


@pytest.fixture(scope="module")
def bbc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    sample = load_bundled("bbc-news").sample(400, random_state=3)
    path = tmp_path_factory.mktemp("bbc") / "bbc.csv"
    sample.head(320).to_csv(path, index=False)
    return path, sample.tail(80)["text"].tolist()  # texts no run trained on


@pytest.fixture(scope="module")
def tuned(bbc: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> headstart.Run:
    out = tmp_path_factory.mktemp("runs") / "finetune"
    return headstart.train(bbc[0], out=out, strategy="finetune", epochs=3, **OPTIONS)


@pytest.fixture(scope="module")
def frozen(bbc: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> headstart.Run:
    return headstart.train(
        bbc[0], out=tmp_path_factory.mktemp("runs") / "features", strategy="features", **OPTIONS
    )


@pytest.mark.parametrize(
    ("name", "method"), [("tuned", "ig"), ("tuned", "occlusion"), ("frozen", "occlusion")]
)
def test_erasing_the_top_words_drops_the_label_more_than_erasing_random_ones(
    name: str, method: str, bbc: tuple[Path, list[str]], request: pytest.FixtureRequest
) -> None:
    run = request.getfixturevalue(name)
    found = faithfulness(run, bbc[1], method, sample=6)
    assert found["method"] == method and found["texts"] == 6
    assert found["aopc_top"] > 2 * max(found["aopc_random"], 0.005), found
    assert found["top_k_drop"][-1] > found["random_k_drop"][-1], found


def test_default_methods_and_a_chosen_label(tuned: headstart.Run, frozen: headstart.Run) -> None:
    text = "Shares in the bank fell sharply after the profit warning."
    (ig,) = tuned.explain([text])
    (occluded,) = frozen.explain([text], label="sports")
    assert ig.method == "ig" and occluded.method == "occlusion" and occluded.label == "sports"
    assert ig.words[0] == "Shares" and len(ig.scores) == len(ig.words) == ig.read
    with pytest.raises(headstart.ConfigError, match="does not apply to this run; use occlusion"):
        frozen.explain([text], method="ig")


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (`make test` installs it as root)",
)
def test_the_page_renders_in_headless_chromium(frozen: headstart.Run, tmp_path: Path) -> None:
    texts = [
        "The striker scored twice as the club won the cup final.",
        "Shares fell <b>sharply</b> & investors sold.",
    ]
    explain_run(frozen, tmp_path / "explain.html", texts=texts)
    scores = json.loads((tmp_path / "explain.json").read_text())
    assert len(scores[0]["scores"]) == 12 and all(entry["read"] == len(entry["words"]) for entry in scores)
    image, dom = render_in_chromium(tmp_path / "explain.html", tmp_path, "1000,700")
    histogram = image.convert("L").histogram()
    assert max(histogram) < 0.97 * sum(histogram), "the screenshot is (nearly) one colour: blank page"
    assert (
        dom.count('class="w"') == sum(entry["read"] for entry in scores)
        and "&lt;" in dom
        and "<b>" not in dom
    )  # text escaped


def test_serve_explains_one_text_and_refuses_bad_requests(frozen: headstart.Run) -> None:
    with TestClient(create_app(frozen)) as client:
        answer = client.post("/explain", json={"text": "The striker scored twice."})
        assert answer.status_code == 200 and answer.json()["words"][1] == "striker"
        assert answer.json()["label"] == frozen.predict(["The striker scored twice."])[0]
        wrong = client.post("/explain", json={"text": "Goal.", "label": "weather"})
        assert wrong.status_code == 422 and "not one of the run's labels" in wrong.json()["detail"]
        assert client.post("/explain", json={"texts": ["a"]}).status_code == 422


def test_cli_explain_and_its_one_line_errors(
    frozen: headstart.Run, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(
            ["explain", str(frozen.path), "--text", "Shares fell.", "-o", str(tmp_path / "e.html"), "--json"]
        )
    assert stop.value.code == 0 and json.loads(capsys.readouterr().out)[0]["method"] == "occlusion"
    for arguments, message in (
        (["--text", "x", "-o", str(tmp_path / "e.txt")], "must be an .html file"),
        (["-o", str(tmp_path / "f.html")], "Give --text TEXT"),
        (["--text", "x", "--method", "ig", "-o", str(tmp_path / "g.html")], "does not apply to this run"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(["explain", str(frozen.path), *arguments])
        error = capsys.readouterr().err
        assert stop.value.code == 2 and message in error and "Traceback" not in error
    assert not (tmp_path / "g.html").exists()
