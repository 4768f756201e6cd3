"""The pseudonymisation key: from a file (created mode 600) or from $HEADSTART_PSEUDONYM_KEY; key
and vault files that others may read are refused with one line naming the `chmod`."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from tests.pii_corpus import pii_corpus

from headstart.cli import main
from headstart.config import TrainConfig
from headstart.preparation import pseudonymizer_for
from headstart.privacy.pseudonyms import KEY_ENV, read_key


def cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    return int(stop.value.code or 0)


@pytest.fixture
def few(tmp_path: Path) -> tuple[Path, list[str]]:
    texts, values = pii_corpus(20, seed=4)
    path = tmp_path / "few.csv"
    pd.DataFrame({"text": texts}).to_csv(path, index=False)
    return path, values


def test_key_and_vault_are_private_and_a_looser_mode_is_refused(
    few: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path, _ = few
    key, out = tmp_path / "key", tmp_path / "out.csv"
    assert cli(["privacy", "pseudonymize", str(path), "-o", str(out), "--key-file", str(key)]) == 0
    assert key.stat().st_mode & 0o777 == 0o600
    assert Path(f"{out}.vault").stat().st_mode & 0o777 == 0o600
    for loose in (key, Path(f"{out}.vault")):
        os.chmod(loose, 0o644)
        capsys.readouterr()
        code = cli(
            ["privacy", "reidentify", str(out), "-o", str(tmp_path / "back.csv"), "--key-file", str(key)]
        )
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0 and f"chmod 600 {loose}" in err
        assert not (tmp_path / "back.csv").exists()
        os.chmod(loose, 0o600)


def test_the_key_can_come_from_the_environment(
    few: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, values = few
    key_file = tmp_path / "key"
    read_key(key_file, create=True)
    monkeypatch.setenv(KEY_ENV, key_file.read_text())
    by_env, by_file = tmp_path / "env.csv", tmp_path / "file.csv"
    assert cli(["privacy", "pseudonymize", str(path), "-o", str(by_env)]) == 0
    assert cli(["privacy", "pseudonymize", str(path), "-o", str(by_file), "--key-file", str(key_file)]) == 0
    assert by_env.read_text() == by_file.read_text()  # one key, the same pseudonyms
    assert not any(value in by_env.read_text() for value in values)
    assert cli(["privacy", "reidentify", str(by_env), "-o", str(tmp_path / "back.csv")]) == 0
    assert pd.read_csv(tmp_path / "back.csv").text.tolist() == pd.read_csv(path).text.tolist()
    config = TrainConfig(dataset="bbc-news", pseudonymize="env")  # a run keeps 'env', never the key
    pseudonymizer = pseudonymizer_for(config)
    assert pseudonymizer is not None and pseudonymizer.key == read_key(key_file)


@pytest.mark.parametrize("value", [None, "", "abc", "zz" * 32])
def test_a_missing_or_bad_environment_key_is_one_line(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(Exception, match=KEY_ENV.replace("$", r"\$")) as error:
        read_key(None)
    assert type(error.value).__name__ == "ConfigError"
