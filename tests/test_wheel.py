"""headstart as a user installs it: the wheel, built from this checkout, installed with the lock
into a fresh virtualenv with only the core and the `data` extra; then `headstart train` (features)
and `predict` on a small CSV, and `headstart serve` answering with the one line that names the
missing `serve` extra. Also: the extras named in error messages are the extras pyproject.toml
declares, and the pins are ranges locked by constraints.txt."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pandas as pd
from tests.conftest import synthetic_rows

from headstart.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[~=<>!\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_dependencies_are_ranges_and_the_lock_pins_each_one() -> None:
    lock = dict(
        line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line
    )
    locked = {name.lower().replace("_", "-") for name in lock}
    for requirement in PROJECT["dependencies"]:
        assert "==" not in requirement and "~=" in requirement, requirement
    assert names(PROJECT["dependencies"]) <= locked
    for extra, requirements in PROJECT["optional-dependencies"].items():
        assert names([r for r in requirements if not r.startswith("headstart")]) <= locked, extra


def test_each_optional_library_comes_from_the_extra_its_message_names() -> None:
    extras = PROJECT["optional-dependencies"]
    for module, extra in EXTRAS.items():
        if module == "semantra_multilingual":  # installed apart with --no-deps (see extras.SEMANTRA)
            continue
        [distribution] = metadata.packages_distributions()[module][:1]
        declared = names(extras[extra])
        needed_by = {
            name
            for name in declared
            for requirement in metadata.requires(name) or []
            if distribution.lower() in names([requirement])
        }
        assert distribution.lower().replace("_", "-") in declared or needed_by, (module, extra)
    offered = set(EXTRAS.values())
    assert set(extras) - offered == {"all", "test", "lint", "bench"}


def run(command: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, **options)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    return done


def test_wheel_with_core_and_data_trains_predicts_and_names_missing_extras(tmp_path: Path) -> None:
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ]
    )
    wheel = next((tmp_path / "dist").glob("headstart-*.whl"))
    shipped = zipfile.ZipFile(wheel).namelist()
    migrations = "headstart/microtasks/migrations/"
    assert {f"{migrations}versions/0001_initial.py", f"{migrations}script.py.mako"} <= set(shipped)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    # --no-compile: byte-compiling every module of torch & co. took half the install (61 → 32 s);
    # Python compiles the ones headstart imports when it first runs.
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check"]
    run([*pip, "-c", str(ROOT / "constraints.txt"), f"{wheel}[data]"])
    installed = run([python, "-m", "pip", "list", "--format=freeze"]).stdout.lower()
    assert "torch==2.13.0" in installed and "fastapi" not in installed and "optuna" not in installed

    pd.DataFrame(synthetic_rows(per_class=20, seed=71)).to_csv(tmp_path / "data.csv", index=False)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "HEADSTART_CACHE": str(tmp_path / "cache"),
    }
    headstart = str(venv / "bin" / "headstart")
    run(
        [
            headstart,
            "train",
            "data.csv",
            "--strategy",
            "features",
            "--max-length",
            "48",
            "--out",
            "run",
            "-q",
        ],
        cwd=tmp_path,
        env=env,
    )
    run([headstart, "predict", "run", "data.csv", "-o", "predictions.csv", "-q"], cwd=tmp_path, env=env)
    predictions = pd.read_csv(tmp_path / "predictions.csv")
    assert (predictions.predicted_label == predictions.label).mean() >= 0.8

    served = subprocess.run(
        [headstart, "serve", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    lines = served.stderr.strip().splitlines()
    assert served.returncode == 2 and len(lines) == 1, served.stderr
    assert lines[0].startswith("error: ") and "pip install 'headstart[serve]'" in lines[0]
