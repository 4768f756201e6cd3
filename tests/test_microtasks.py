"""MicroTasks, the crowd task service: project files checked in one line, the schema equal to its
migrations, each task kind's rules, and a create → validate → label project run end to end by a
simulated crowd of HTTP clients against a live server on loopback (SQLite): spammers paused, no
item lost or answered twice by one person, labels at least as accurate as offline Dawid–Skene on
the same answers, personal data pseudonymised, erasure leaving no link to the person."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from tests.conftest import synthetic_rows
from tests.postgres_server import binaries, new_database, postgres_server

from headstart.cli import main
from headstart.errors import ConfigError
from headstart.labels.aggregate import crowd_kit_consensus
from headstart.microtasks.database import purge_erased
from headstart.microtasks.engine import MicroTasks
from headstart.microtasks.kinds import KINDS, AnswerError, Vote
from headstart.microtasks.page import rules_graph
from headstart.microtasks.people import pseudonym
from headstart.microtasks.project import from_dict, load_project
from headstart.microtasks.schema import Answer, Assignment, AuditEvent, Base, Item, Project
from headstart.microtasks.service import create_app
from headstart.microtasks.simulate import PHRASES, crowd, gold_rows, intent_of, prompts, run_crowd
from headstart.microtasks.tables import training_frame

KEY = bytes(range(32))
PROJECT = {
    "name": "intents",
    "languages": ["en", "fr", "de"],
    "gold_rate": 0.15,
    "quality": {"min_gold_answers": 4, "min_gold_accuracy": 0.7, "too_fast_seconds": 1},
    "steps": {
        "write": {"kind": "create", "next": "check", "min_characters": 10},
        "check": {"kind": "validate", "votes": 2, "next": "label", "redo": "write"},
        "label": {
            "kind": "label",
            "labels": ["greeting", "booking", "complaint"],
            "answers": 2,
            "max_answers": 6,
            "confidence": 0.9,
        },
    },
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": {"a": {"kind": "labl"}}}, "has kind 'labl'; kinds are create, label, rate, tag, validate"),
        ({"steps": {"a": {"kind": "create"}}}, "step 'a' (create) needs next"),
        (
            {"steps": {"a": {"kind": "label", "labels": ["x"]}}},
            "labels must list two or more distinct classes",
        ),
        (
            {"steps": {"a": {"kind": "label", "labels": ["x", "y"], "next": "b"}}},
            "has next: 'b', which is not a step",
        ),
        (
            {"steps": {"a": {"kind": "rate", "next": "b"}, "b": {"kind": "rate", "next": "a"}}},
            "the next links loop",
        ),
        ({"steps": {"a": {"kind": "validate", "votes": 0}}}, "votes must be a whole number of at least 1"),
        ({"gold_rate": 2}, "gold_rate must be a number from 0 to 1"),
        ({"erasure": "shred"}, "erasure must be one of anonymise, delete"),
        ({"colour": "blue"}, "unknown key(s) ['colour']"),
        ({"steps": {"a": {"kind": "tag", "tags": ["p"], "size": 3}}}, "has unknown option(s) ['size']"),
    ],
)
def test_a_bad_project_file_gets_one_line_naming_the_fix(change: dict, message: str, tmp_path: Path) -> None:
    path = tmp_path / "project.yaml"
    path.write_text(yaml.safe_dump({**PROJECT, **change}))
    with pytest.raises(ConfigError) as raised:
        load_project(path)
    assert message in str(raised.value) and "project.yaml" in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


def test_the_schema_is_its_migrations_and_upgrading_twice_changes_nothing(tmp_path: Path) -> None:
    tasks = MicroTasks(f"sqlite:///{tmp_path / 'tasks.db'}", KEY)
    with tasks.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert tasks.revision == MicroTasks(f"sqlite:///{tmp_path / 'tasks.db'}", KEY).revision == "0001"


def test_the_rules_graph_draws_each_step_and_the_redo_link() -> None:
    svg = rules_graph(from_dict(PROJECT))
    assert [svg.count(f'data-step="{name}"') for name in ("write", "check", "label")] == [1, 1, 1]
    assert svg.count("marker-end") == 3 and "rejected: redo" in svg  # two next links, one redo
    assert "2–6 answers, DS ≥ 0.9" in svg


def test_each_kind_checks_its_answers_and_decides() -> None:
    spec = from_dict(PROJECT)
    label = spec.step("label").options
    assert KINDS["label"].check_answer("booking", label, "x") == "booking"
    with pytest.raises(AnswerError, match="one of the labels"):
        KINDS["label"].check_answer("cat", label, "x")
    votes = [Vote("a", "booking"), Vote("b", "booking")]
    settled = KINDS["label"].decide(votes, label, None)
    assert settled.state == "settled" and settled.result == "booking" and settled.confidence > 0.9
    split = KINDS["label"].decide([Vote("a", "booking"), Vote("b", "greeting")], label, None)
    assert split.state == "more"  # 2 answers that disagree: not confident, below max_answers
    validate = spec.step("check").options
    with pytest.raises(AnswerError, match="needs a reason"):
        KINDS["validate"].check_answer({"accept": False}, validate, "x")
    rejected = [Vote("a", {"accept": False, "reason": "r"}), Vote("b", {"accept": False, "reason": "r"})]
    assert KINDS["validate"].decide(rejected, validate, None).state == "rejected"
    tags = KINDS["tag"].check_options({"tags": ["person"]}, "test")
    with pytest.raises(AnswerError, match="may not overlap"):
        KINDS["tag"].check_answer(
            [{"start": 0, "end": 4, "tag": "person"}, {"start": 2, "end": 6, "tag": "person"}],
            tags,
            "Anna Berg",
        )
    rate = KINDS["rate"].check_options({"answers": 2}, "test")
    assert KINDS["rate"].decide([Vote("a", 4.0), Vote("b", 5.0)], rate, None).result == 4.5


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server for this module's tests."""
    if binaries() is None:
        pytest.skip("PostgreSQL is not installed; `make test` installs Debian's postgresql when root")
    with postgres_server() as prefix:
        yield prefix


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database's URL: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tasks.db'}"
    return new_database(request.getfixturevalue("postgres"), f"t{uuid.uuid4().hex[:12]}")


@contextmanager
def serve_in_thread(tasks: MicroTasks) -> Iterator[str]:
    """The service over `tasks` on a free loopback port, in a thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tasks), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def live(database: str) -> Iterator[tuple[str, MicroTasks, str, str]]:
    """A task service on loopback over `database`; (base URL, engine, admin token, app token)."""
    tasks = MicroTasks(database, KEY, seed=0)
    admin, app = tasks.create_token("operator", "admin"), tasks.create_token("crowd-app", "app")
    with serve_in_thread(tasks) as base:
        yield base, tasks, admin, app
    tasks.engine.dispose()


@dataclass(frozen=True)
class CrowdSize:
    prompts_per_language: int
    annotators: int
    clients: int
    accuracy_slack: float  # how far below offline Dawid–Skene the exported labels may be


SIZES = {
    "small": CrowdSize(12, 40, 8, 0.03),  # 36 prompts: a handful of answers per annotator
    "full": CrowdSize(334, 200, 32, 0.0),  # the acceptance's 1,002 items, 200 annotators, 32 clients
}


@pytest.mark.parametrize("size", ["small", pytest.param("full", marks=pytest.mark.slow)])
def test_a_simulated_crowd_runs_a_chained_project_over_http(
    live: tuple[str, MicroTasks, str, str], size: str
) -> None:
    """A create → validate → label project, 20 % spammers, three languages, over HTTP: nothing is
    left open or answered twice, the labels are as accurate as offline Dawid–Skene on the same
    answers, spammers are paused. `full` (slow) is the acceptance's size; `small` the same, shrunk."""
    base, tasks, _, app = live
    scale = SIZES[size]
    tasks.save_project(from_dict(PROJECT))
    tasks.add_items("intents", "write", prompts(per_language=scale.prompts_per_language))
    tasks.add_items("intents", "label", gold_rows())
    people = crowd(scale.annotators, spammers=0.2, seed=1)
    tally = run_crowd(base, app, "intents", people, clients=scale.clients, stop=lambda: False, seed=2)
    assert tally.errors == [] and tally.answers > 0
    assert len(tally.seen) == tally.tasks  # every assignment went to one person, once

    found = tasks.progress("intents")
    assert_no_prompt_lost(found, prompts=3 * scale.prompts_per_language)
    answers = answer_table(tasks)
    assert answers.dropna(subset=["annotator"]).groupby(["annotator", "item"]).size().max() == 1

    # Labels: the service's (Dawid–Skene refitted in batches to decide where more answers are
    # needed, and on every answer at export) against Dawid–Skene fitted offline on the very same
    # answers; truth: the text's real intent. Random labels score 0.33.
    exported = pd.DataFrame(tasks.export("intents"))
    accuracy = (exported.label == exported.text.map(intent_of)).mean()
    labels = answers[(answers.step == "label") & ~answers.gold]
    offline = crowd_kit_consensus(
        labels.rename(columns={"item": "task", "annotator": "worker", "value": "label"}), "ds", 0
    ).labels
    truth = labels.drop_duplicates("item").set_index("item").text.map(intent_of)
    offline_accuracy = (offline.reindex(truth.index) == truth).mean()
    assert accuracy >= offline_accuracy - scale.accuracy_slack and accuracy >= 0.75, (
        accuracy,
        offline_accuracy,
    )
    assert (exported.text.map(intent_of) == exported.intent).mean() >= 0.9  # validation caught wrong texts

    paused = {row["annotator"]: row["paused"] for row in found["annotators"]}
    spammers = [
        paused[pseudonym(KEY, p.user)[:8]]
        for p in people
        if p.spammer and pseudonym(KEY, p.user)[:8] in paused
    ]
    honest = [
        paused[pseudonym(KEY, p.user)[:8]]
        for p in people
        if not p.spammer and pseudonym(KEY, p.user)[:8] in paused
    ]
    assert sum(spammers) >= 0.5 * len(spammers) and sum(honest) <= 0.2 * len(honest), (spammers, honest)


def answer_table(tasks: MicroTasks, with_assignment: bool = False) -> pd.DataFrame:
    """Every counted answer (every answer, with its assignment id, with `with_assignment`) with its
    item's step, text and whether the item is gold."""
    columns = [Answer.item_id, Answer.annotator_id, Answer.value, Item.step, Item.text, Item.is_gold]
    query = select(*columns, Answer.assignment_id).join(Item, Item.id == Answer.item_id)
    with tasks.sessions() as session:
        rows = session.execute(query if with_assignment else query.where(Answer.counted)).all()
    return pd.DataFrame(rows, columns=["item", "annotator", "value", "step", "text", "gold", "assignment"])


LABELS_ONLY = {
    "name": "topics",
    "languages": ["en"],
    "steps": {"label": {"kind": "label", "labels": ["greeting", "booking", "complaint"], "answers": 3}},
}


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # the files are SQLite's
@pytest.mark.parametrize("erasure", ["anonymise", "delete"])
def test_erasing_an_annotator_leaves_no_link_in_exports_tables_files_or_logs(
    erasure: str, live: tuple[str, MicroTasks, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    base, tasks, admin, app = live
    tasks.save_project(from_dict({**LABELS_ONLY, "erasure": erasure}))
    tasks.add_items(
        "topics", "label", [{"text": text, "language": "en"} for text in PHRASES["en"]["booking"]]
    )
    people = [f"person-{n}@example.org" for n in range(3)]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {app}"}) as client:
        for person in people:
            while task := client.get(
                "/next-task", params={"project": "topics", "annotator": person, "lang": "en"}
            ).json()["task"]:
                body = {"assignment": task["assignment"], "value": "booking", "seconds": 4}
                assert client.post("/answers", json=body).status_code == 200
    gone, pseudonym_of_gone = people[0], pseudonym(KEY, people[0])
    before = answer_table(tasks)
    assert (before.annotator == pseudonym_of_gone).sum() == 2
    purge_erased(tasks.engine)  # the answers reach the database file itself, not only its log

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}) as operator:
        erased = operator.delete(f"/annotators/{gone}")
        assert erased.status_code == 200, erased.text
        assert erased.json() == {
            "anonymised": 2 * (erasure == "anonymise"),
            "deleted": 2 * (erasure == "delete"),
        }
        again = operator.delete(f"/annotators/{gone}")
        assert again.status_code == 404 and gone not in again.text
        exported = operator.get("/projects/topics/export", params={"soft": True}).text
        report = operator.get("/projects/topics").text

    after = answer_table(tasks)
    assert len(after) == len(before) - 2 * (erasure == "delete")
    assert pseudonym_of_gone not in set(after.annotator.dropna())
    for where in (exported, report):
        assert pseudonym_of_gone[:8] not in where and gone not in where
    with tasks.sessions() as session:
        assert session.scalar(select(Assignment).where(Assignment.annotator_id == pseudonym_of_gone)) is None
        consensus = [project.consensus for project in session.scalars(select(Project))]
        audit = [(event.action, event.detail) for event in session.scalars(select(AuditEvent))]
    assert pseudonym_of_gone not in str(consensus) and pseudonym_of_gone not in str(audit)
    assert (
        "erase annotator",
        {"anonymised": 2 * (erasure == "anonymise"), "deleted": 2 * (erasure == "delete")},
    ) in audit
    # Nor in the bytes of the database files (free pages, write-ahead log) or the server's log.
    files = b"".join(path.read_bytes() for path in Path(tasks.engine.url.database).parent.glob("tasks.db*"))
    assert pseudonym_of_gone.encode() not in files and gone.encode() not in files
    assert all(gone not in record.getMessage() for record in caplog.records)
    assert pseudonym(KEY, people[1]).encode() in files  # the others' links stay


def headstart(*argv: str) -> None:
    """Run a headstart command in this process; it must succeed."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 0


def test_the_cli_runs_a_project_from_file_to_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEADSTART_PSEUDONYM_KEY", KEY.hex())
    Path("project.yaml").write_text(yaml.safe_dump(LABELS_ONLY))
    pd.DataFrame({"text": PHRASES["en"]["booking"], "id": ["a", "b"]}).to_csv("items.csv", index=False)
    for argv in (
        ["project", "project.yaml"],
        ["add", "topics", "items.csv", "--step", "label", "--language", "en"],
    ):
        headstart("tasks", *argv, "--db", "sqlite:///t.db", "-q")
    tasks = MicroTasks("sqlite:///t.db", KEY, create=False)
    for number in range(3):
        while (task := tasks.next_task("topics", f"p{number}", ["en"])["task"]) is not None:
            tasks.answer(task["assignment"], "booking", 5)
    capsys.readouterr()
    headstart("tasks", "status", "topics", "--db", "sqlite:///t.db", "--json", "--html", "page.html")
    status = json.loads(capsys.readouterr().out)
    assert status["steps"]["label"]["settled"] == 2 and status["answers_per_settled_item"] == 3
    assert "2 items settled in the last steps; 6 answers" in Path("page.html").read_text()
    export = ["export", "topics", "--db", "sqlite:///t.db", "--format", "jsonl", "-o", "out.jsonl"]
    headstart("tasks", *export, "--soft")
    exported = pd.read_json("out.jsonl", lines=True)
    assert exported.id.tolist() == ["a", "b"] and (exported.label == "booking").all()
    assert (exported.p_booking > 0.9).all()


TASKS_ERRORS = {
    "bad project file": (["project", "p.yaml"], "has kind 'labl'"),
    "no database yet": (["status", "topics", "--db", "sqlite:///none.db"], "No task database at 'none.db'"),
    "unknown project": (["status", "nope"], "No project called 'nope'"),
    "items without text": (["add", "topics", "bad.csv", "--step", "label"], "has no text column"),
    "unknown step": (["add", "topics", "items.csv", "--step", "write"], "write"),
    "bad export format": (
        ["export", "topics", "--format", "xlsx", "-o", "x.xlsx"],
        "--format must be one of",
    ),
    "unknown annotator": (["erase", "someone"], "No annotator has that id"),
    "bad database URL": (["status", "topics", "--db", "mysql://x"], "Cannot use database URL"),
}


@pytest.mark.parametrize("case", sorted(TASKS_ERRORS))
def test_tasks_commands_refuse_bad_input_in_one_line(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEADSTART_PSEUDONYM_KEY", KEY.hex())
    MicroTasks("sqlite:///microtasks.db", KEY).save_project(from_dict(LABELS_ONLY))
    Path("p.yaml").write_text(yaml.safe_dump({**LABELS_ONLY, "steps": {"a": {"kind": "labl"}}}))
    pd.DataFrame({"words": ["x"]}).to_csv("bad.csv", index=False)
    pd.DataFrame({"text": ["x"], "language": ["en"]}).to_csv("items.csv", index=False)
    argv, fragment = TASKS_ERRORS[case]
    before = {path: path.stat().st_size for path in tmp_path.iterdir() if "microtasks.db" not in path.name}
    with pytest.raises(SystemExit) as exit_info:
        main(["tasks", *argv])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(lines) == 1 and fragment in lines[0], lines
    after = {path: path.stat().st_size for path in tmp_path.iterdir() if "microtasks.db" not in path.name}
    assert after == before  # nothing written but the database's own files


@contextmanager
def server_process(database: str, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`headstart tasks serve` in its own process; yields (base URL, process) once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "headstart", "tasks", "serve", "--db", database, "--port", str(port)]
    env = {**os.environ, "HEADSTART_PSEUDONYM_KEY": KEY.hex()}
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                break
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
    try:
        yield base, process
    finally:
        process.kill()
        process.wait()


def test_kill_9_mid_load_loses_no_accepted_answer(database: str, tmp_path: Path) -> None:
    """The server, a `headstart tasks serve` process, is killed with SIGKILL while 8 clients answer.
    Every answer a client heard stored is in the database, and a restarted server finishes the
    project: no item lost (each gets its answers), none answered twice by one person."""
    tasks = MicroTasks(database, KEY, seed=0)
    tasks.save_project(from_dict(PROJECT))
    tasks.add_items("intents", "write", prompts(per_language=6))
    tasks.add_items("intents", "label", gold_rows())
    app = tasks.create_token("crowd-app", "app")
    people = crowd(30, spammers=0.2, seed=3)
    stored = select(func.count()).select_from(Answer)

    def killed_after_50_answers() -> bool:
        with tasks.sessions() as session:
            return (session.scalar(stored) or 0) >= 50

    with server_process(database, tmp_path / "server.log") as (base, process):
        killer = threading.Thread(
            target=lambda: (wait_until(killed_after_50_answers), os.kill(process.pid, signal.SIGKILL))
        )
        killer.start()
        first = run_crowd(base, app, "intents", people, clients=8, stop=lambda: False, seed=4)
        killer.join()
    assert first.errors and all(error.startswith("transport") for error in first.errors)  # killed
    answered = set(answer_table(tasks, with_assignment=True).assignment)
    assert first.accepted and first.accepted <= answered

    with server_process(database, tmp_path / "server.log") as (base, _):
        second = run_crowd(base, app, "intents", people, clients=8, stop=lambda: False, seed=5)
    assert second.errors == []
    found = tasks.progress("intents")
    assert_no_prompt_lost(found, prompts=18)
    answers = answer_table(tasks)
    assert answers.dropna(subset=["annotator"]).groupby(["annotator", "item"]).size().max() == 1


def assert_no_prompt_lost(found: dict[str, Any], prompts: int) -> None:
    """Nothing is open, and each prompt's text was written, accepted and labelled, or dropped after
    3 rejected texts. How many are dropped depends on which simulated person wrote which text, which
    the threads' timing decides; a fifth of the crowd spams, so at least half pass."""
    steps = found["steps"]
    assert all(steps[step]["open"] == 0 for step in ("write", "check", "label")), steps
    assert steps["write"]["settled"] + steps["write"]["rejected"] == prompts, steps
    passed = steps["write"]["settled"]
    assert found["settled_final"] == steps["check"]["settled"] == passed >= prompts / 2, steps


def wait_until(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_train_tasks_trains_on_a_projects_settled_items_with_soft_labels(
    tiny_model: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three annotators label 60 toy texts, each wrong on other items (never two on one); `train
    --tasks` trains a run on the settled items and their Dawid–Skene posteriors, without the key."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEADSTART_PSEUDONYM_KEY", raising=False)
    rows = synthetic_rows(per_class=20, seed=5)
    labels = sorted({row["label"] for row in rows})
    tasks = MicroTasks("sqlite:///t.db", KEY, seed=0)
    spec = {**LABELS_ONLY, "steps": {"label": {"kind": "label", "labels": labels, "answers": 3}}}
    tasks.save_project(from_dict(spec))
    tasks.add_items("topics", "label", [{"text": row["text"], "language": "en"} for row in rows])
    truth = {row["text"]: row["label"] for row in rows}
    for person in ("ana", "ben", "eve"):
        for number in itertools.count():
            task = tasks.next_task("topics", person, ["en"])["task"]
            if task is None:
                break
            wrong = (
                number % {"ana": 10, "ben": 10, "eve": 5}[person] == {"ana": 3, "ben": 7, "eve": 0}[person]
            )
            label = truth[task["text"]]
            tasks.answer(task["assignment"], labels[(labels.index(label) + 1) % 3] if wrong else label, 5)
    frame = training_frame(MicroTasks("sqlite:///t.db", key=None).export("topics", soft=True), "topics")
    assert len(frame) == 60 and (frame.label == frame.text.map(truth)).all()  # two of three agree
    sureness = frame.soft_label.map(lambda cell: max(json.loads(cell).values()))
    dissent = [number % 10 in (3, 7) or number % 5 == 0 for number in range(len(frame))]  # items in order
    agreed = sureness[[not d for d in dissent]]
    assert agreed.min() > 0.99 and sureness[dissent].mean() < agreed.mean()  # a wrong answer leaves doubt
    tasks.engine.dispose()
    options = ["--model", tiny_model, "--epochs", "1", "--max-length", "32", "--refit", "no", "-q"]
    headstart("train", "--tasks", "topics", "--tasks-db", "sqlite:///t.db", "--soft-labels", *options)
    run = Path("runs/topics-finetune")
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["soft_labels"] is True and "60 rows" in config["in_memory"]
    assert isinstance(json.loads((run / "metrics.json").read_text())["test"]["accuracy"], float)


@pytest.mark.parametrize("check_language", [True, False])
def test_created_texts_are_pseudonymised_and_checked_before_anyone_sees_them(
    check_language: bool, tmp_path: Path
) -> None:
    tasks = MicroTasks(f"sqlite:///{tmp_path / 'tasks.db'}", KEY, seed=0)
    spec = {
        "name": "notes",
        "languages": ["en"],
        "steps": {
            "write": {"kind": "create", "next": "check", "check_language": check_language},
            "check": {"kind": "validate", "votes": 1},
        },
    }
    tasks.save_project(from_dict(spec))
    email = "anna.berg@example.org"
    tasks.add_items("notes", "write", [{"text": f"Write to {email} about a booking", "language": "en"}])
    first = tasks.next_task("notes", "ana", ["en"])["task"]
    assert email not in first["text"] and "<EMAIL_" in first["text"]  # pseudonymised on the way in
    german = {"text": "Ich möchte gerne einen Tisch für vier Personen am Freitagabend reservieren"}
    receipt = tasks.answer(first["assignment"], german, 9)
    assert receipt["accepted"] is not check_language and ("language" in receipt["flags"]) is check_language
    if check_language:  # refused: the prompt goes to someone else, who writes in English
        second = tasks.next_task("notes", "ben", ["en"])["task"]
        written = {"text": f"Please email me at {email} to confirm my table for two"}
        assert tasks.answer(second["assignment"], written, 9)["accepted"]
    check = tasks.next_task("notes", "eve", ["en"])["task"]
    assert check["kind"] == "validate" and email not in check["text"]
    with tasks.sessions() as session:
        stored = " ".join(str(value) for value in session.scalars(select(Answer.value)))
        texts = " ".join(session.scalars(select(Item.text)))
    assert email not in stored and email not in texts


def test_a_model_rule_settles_what_the_run_is_sure_of_and_sends_its_doubts_to_people(
    tiny_run, tmp_path: Path
) -> None:
    """Items reaching a label step with a model rule, added or chained from a create step, are
    settled by the run when its conformal set is one label; the others go to people."""
    labels = list(tiny_run.labels)
    rule = {"run": str(tiny_run.path), "coverage": 0.9}
    steps = {
        "write": {"kind": "create", "next": "label", "check_language": False},
        "label": {"kind": "label", "labels": labels, "answers": 1, "model": rule},
    }
    tasks = MicroTasks(f"sqlite:///{tmp_path / 'tasks.db'}", KEY, seed=0)
    tasks.save_project(from_dict({"name": "routed", "languages": ["en"], "steps": steps}))
    texts = [row["text"] for row in synthetic_rows(per_class=6, seed=9)]
    texts += ["the of a and it was then", "so it is with them as it was"]  # no keyword: doubts
    tasks.add_items("routed", "write", [{"text": "Write about football", "language": "en"}])
    writing = tasks.next_task("routed", "ana", ["en"])["task"]
    created = "The striker scored a goal in the league match at the stadium"
    tasks.answer(writing["assignment"], {"text": created}, 9)
    tasks.add_items("routed", "label", [{"text": text, "language": "en"} for text in texts])

    expected = dict(zip([*texts, created], tiny_run.prediction_sets([*texts, created], 0.9), strict=True))
    with tasks.sessions() as session:
        items = session.scalars(select(Item).where(Item.step == "label")).all()
    assert sorted(item.text for item in items) == sorted(expected)
    for item in items:
        sure = len(expected[item.text]) == 1
        assert (item.status == "settled") is sure and item.data.get("settled_by") == (
            "model" if sure else None
        )
        assert item.result == (expected[item.text][0] if sure else None)
        assert sure or item.data["candidates"] == expected[item.text]
    doubts = [text for text, found in expected.items() if len(found) != 1]
    assert doubts, "the keyword-free texts should leave the run unsure"
    handed = []
    while (task := tasks.next_task("routed", "ben", ["en"])["task"]) is not None:
        handed.append(task["text"])
        tasks.answer(task["assignment"], (task["data"]["candidates"] or labels)[0], 4)
    assert sorted(handed) == sorted(doubts)  # people get the doubts only
    exported = {row["text"]: row for row in tasks.export("routed")}
    by_model = [row for row in exported.values() if row.get("settled_by") == "model"]
    assert len(by_model) == len(expected) - len(doubts)
    assert all(row["label"] == expected[row["text"]][0] and row["confidence"] == 0.9 for row in by_model)
