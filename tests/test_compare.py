"""`compare`: the grid, its resumability and its three outputs."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import headstart
import headstart.workflows.compare as grid_module
from headstart.cli import main
from headstart.workflows.compare import compare, pareto_front

OPTIONS = {
    "epochs": 1,
    "batch_size": 8,
    "lr": 1e-3,
    "patience": 0,
    "refit": "no",
    "checkpoint_every": 0,
    "max_length": 32,
}


def test_grid_writes_leaderboard_plot_and_report_and_resumes(
    toy_csv: Path, tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cmp"
    board = compare(
        toy_csv, out=out, models=[tiny_model], strategies=["finetune", "bitfit"], seeds=2, **OPTIONS
    )
    assert sorted(board.strategy) == ["bitfit", "finetune"] and (board.seeds == 2).all()
    assert board.macro_f1_mean.is_monotonic_decreasing and board.pareto.any()
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 4 and runs.seed.tolist().count(42) == 2
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (out / "leaderboard.md").read_text()
    assert "| model | strategy |" in markdown and "bitfit" in markdown and " ± " in markdown
    report = (out / "report.html").read_text()
    assert 'id="leaderboard"' in report and report.count("data:image/png;base64,") == 1 + 4
    # A map of the test texts per (model, strategy), linked with its PNG.
    assert report.count('<figure><a href="maps/') == 2
    assert all((out / "maps" / f"{Path(r).name}.png").is_file() for r in runs.run if r.endswith("42"))
    # Every cell tested on the same split.
    assert len({pd.read_csv(Path(r) / ".." / ".." / "data" / "test.csv").shape for r in runs.run}) == 1

    trained = []
    monkeypatch.setattr(grid_module, "train", lambda **kwargs: trained.append(kwargs))
    again = compare(
        toy_csv, out=out, models=[tiny_model], strategies=["finetune", "bitfit"], seeds=2, **OPTIONS
    )
    assert trained == [] and again.equals(board)


def test_grid_keeps_named_columns_and_extra_label_columns(
    toy_csv: Path, tiny_model: str, tmp_path: Path
) -> None:
    frame = pd.read_csv(toy_csv)
    frame = frame.rename(columns={"text": "body", "label": "topic"}).assign(
        length=["long" if len(t) > 80 else "short" for t in frame.text]
    )
    frame.to_csv(tmp_path / "named.csv", index=False)
    board = compare(
        tmp_path / "named.csv",
        out=tmp_path / "cmp",
        models=[tiny_model],
        strategies=["features"],
        seeds=1,
        text_col="body",
        label_col="topic",
        **OPTIONS,
    )
    assert board.strategy.tolist() == ["features"]
    multi = compare(
        tmp_path / "named.csv",
        out=tmp_path / "cmp2",
        models=[tiny_model],
        strategies=["multitask"],
        seeds=1,
        text_col="body",
        label_col="topic",
        strategy_options={"multitask": {"columns": ["length"]}},
        **OPTIONS,
    )
    assert multi.strategy.tolist() == ["multitask"]
    run = headstart.load_run(next((tmp_path / "cmp2" / "runs").iterdir()))
    assert set(run.head_labels) == {"label", "length"}
    with pytest.raises(headstart.ConfigError, match="needs the further label columns"):
        compare(
            tmp_path / "named.csv",
            out=tmp_path / "cmp3",
            models=[tiny_model],
            strategies=["multitask"],
            seeds=1,
        )


def test_pareto_front_keeps_only_undominated_points() -> None:
    quality = np.array([0.90, 0.95, 0.93, 0.80])
    latency = np.array([10.0, 30.0, 40.0, 5.0])
    assert pareto_front(quality, latency) == [True, True, False, True]


def test_compare_cli_rejects_unknown_strategy_before_training(
    tmp_path: Path, toy_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(toy_csv), "--strategies", "finetune,magic", "--out", str(tmp_path / "c")])
    assert exit_info.value.code == 2 and "Unknown strategy 'magic'" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    for option, message in (
        ("r=16", "needs the strategy in front"),
        ("lora.r=16", "not among --strategies"),
        ("finetune.r=16", "has no option(s) ['r']"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(
                [
                    "compare",
                    str(toy_csv),
                    "--strategies",
                    "finetune",
                    "--option",
                    option,
                    "--out",
                    str(tmp_path / "c"),
                ]
            )
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def chromium_command() -> list[str]:
    # Flags that keep headless Chromium off the network and out of any user profile.
    return [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]


def render_in_chromium(page: Path, folder: Path, size: str) -> tuple[Image.Image, str]:
    """A screenshot of the page (window `size`, e.g. "1200,1400") and its DOM, by headless Chromium."""
    uri, profile, shot = (
        page.resolve().as_uri(),
        ["--user-data-dir=" + str(folder / "profile")],
        folder / "page.png",
    )
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=120)
    run([*chromium_command(), *profile, f"--screenshot={shot}", f"--window-size={size}", uri])
    dom = run([*chromium_command(), *profile, "--dump-dom", uri], text=True).stdout
    return Image.open(shot), dom


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (`make test` installs it as root)",
)
def test_html_report_renders_in_headless_chromium(toy_csv: Path, tiny_model: str, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    compare(toy_csv, out=out, models=[tiny_model], strategies=["finetune", "bitfit"], seeds=1, **OPTIONS)
    image, dom = render_in_chromium(out / "report.html", tmp_path, "1200,1400")
    histogram = image.convert("L").histogram()
    assert image.size == (1200, 1400)
    assert max(histogram) < 0.97 * sum(histogram), "the screenshot is (nearly) one colour: blank page"
    assert '<table id="leaderboard">' in dom and dom.count("<tr>") >= 3 and "bitfit" in dom
    assert 'id="pareto"' in dom


@pytest.mark.parametrize("task", ["multi-label", "regression", "ner"])
def test_compare_ranks_every_task_by_its_main_metric(task: str, tiny_model: str, tmp_path: Path) -> None:
    from tests.test_ner import conll_text, synthetic_sentences
    from tests.test_tasks import multi_label_rows, regression_rows

    if task == "ner":
        data = tmp_path / "data.conll"
        data.write_text(conll_text(synthetic_sentences(60, seed=1)), encoding="utf-8")
    else:
        data = tmp_path / "data.jsonl"
        rows = multi_label_rows(60, seed=1) if task == "multi-label" else regression_rows(60, seed=1)
        pd.DataFrame(rows).to_json(data, orient="records", lines=True)
    board = compare(
        data,
        out=tmp_path / "cmp",
        models=[tiny_model],
        strategies=["features", "finetune"],
        seeds=1,
        **OPTIONS,
    )
    metric = {"multi-label": "macro_f1", "regression": "spearman", "ner": "f1"}[task]
    assert f"{metric}_mean" in board and board[f"{metric}_mean"].is_monotonic_decreasing
    assert headstart.load_run(next((tmp_path / "cmp" / "runs").iterdir())).config.task == task
    assert (tmp_path / "cmp" / "report.html").is_file() and "Pareto front of" in (
        tmp_path / "cmp" / "leaderboard.md"
    ).read_text()
