"""The task service under a simulated crowd: a create → validate → label project, end to end over
HTTP, with the label step settling when Dawid–Skene is confident enough (from 2 answers, or the
number given, up to 7), per confidence level, and with each fixed redundancy; each on a fresh
database behind its own `headstart tasks serve` process.

    python benchmarks/microtasks_crowd.py [--prompts 1002] [--annotators 200] [--clients 32]
                                          [--confidence 0.9,0.97,1:0.99] [--fixed 3,5]
                                          [--postgres postgresql+psycopg://USER@HOST:PORT/]

With `--postgres`, each policy runs on a fresh database made on that server (the user must be
allowed to create databases) and dropped afterwards, instead of a SQLite file.

The project is the guide's (docs/guides/microtasks/intents.yaml), its label step's answers,
max_answers and confidence set per policy. The crowd (headstart.microtasks.simulate): 20 %
spammers, the others right 75-97 % of the time, each speaking one or two of English, French and
German; prompts ask for a text of one of three intents, and a text's true intent is known from the
phrase bank it was written from. Per policy it
prints tasks/s sustained (handed out and answered, over the wall time), the label answers per
settled label item, the exported labels' accuracy, offline Dawid–Skene's accuracy on the very same
answers, the spammers paused, and checks that no item was lost (none left open) or answered twice
by one person. The last lines compare each fixed redundancy with the cheapest confident policy that
is at least as accurate.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from headstart.labels.aggregate import crowd_kit_consensus
from headstart.microtasks.engine import MicroTasks
from headstart.microtasks.people import pseudonym
from headstart.microtasks.project import from_dict, load_project
from headstart.microtasks.simulate import crowd, gold_rows, intent_of, prompts, run_crowd

KEY = os.urandom(32)
PROJECT = Path(__file__).resolve().parents[1] / "docs" / "guides" / "microtasks" / "intents.yaml"


def project(label_step: dict[str, Any]) -> dict[str, Any]:
    """The guide's project (docs/guides/microtasks/intents.yaml) with the label step's policy."""
    spec = load_project(PROJECT).to_dict()
    label = spec["steps"]["label"]
    spec["steps"]["label"] = {key: label[key] for key in ("kind", "labels", "next", "redo")} | label_step
    return spec


def serve(database: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HEADSTART_PSEUDONYM_KEY": KEY.hex()}
    command = [sys.executable, "-m", "headstart", "tasks", "serve", "--db", database, "--port", str(port)]
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not start; see {log}")


@contextmanager
def database(postgres: str, sqlite_file: str) -> Iterator[str]:
    """A fresh database's URL: a SQLite file, or a database made on the PostgreSQL server and
    dropped when done."""
    if not postgres:
        yield f"sqlite:///{sqlite_file}"
        return
    import psycopg

    name = f"headstart_bench_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://" + postgres.split("://", 1)[1] + "postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres + name
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def run_policy(
    name: str, label_step: dict[str, Any], database: str, args: argparse.Namespace
) -> dict[str, Any]:
    tasks = MicroTasks(database, KEY, seed=0)
    tasks.save_project(from_dict(project(label_step)))
    tasks.add_items("intents", "write", prompts(per_language=args.prompts // 3))
    tasks.add_items("intents", "label", gold_rows())
    app = tasks.create_token("crowd-app", "app")
    people = crowd(args.annotators, spammers=0.2, seed=1)
    process, base = serve(database, Path(tempfile.gettempdir()) / "microtasks-bench.log")
    try:
        started = time.perf_counter()
        tally = run_crowd(base, app, "intents", people, clients=args.clients, stop=lambda: False, seed=2)
        seconds = time.perf_counter() - started
    finally:
        process.kill()
        process.wait()
    found = tasks.progress("intents")
    exported = pd.DataFrame(tasks.export("intents"))
    labels = tasks.answers("intents", "label")
    offline = crowd_kit_consensus(
        labels.rename(columns={"item": "task", "annotator": "worker"}), "ds", 0
    ).labels
    truth = labels.drop_duplicates("item").set_index("item").text.map(intent_of)
    paused = {row["annotator"]: row["paused"] for row in found["annotators"]}
    spammers = [pseudonym(KEY, p.user)[:8] for p in people if p.spammer]
    honest = [pseudonym(KEY, p.user)[:8] for p in people if not p.spammer]
    label_step_facts = found["steps"]["label"]
    return {
        "policy": name,
        "prompts": args.prompts // 3 * 3,
        "settled": found["settled_final"],
        "open left": sum(step["open"] for step in found["steps"].values()),
        "tasks/s": round(tally.tasks / seconds, 1),
        "answers": found["answers"],
        "answers/settled item": found["answers_per_settled_item"],
        "label answers/item": round(len(labels) / max(label_step_facts["settled"], 1), 2),
        "accuracy": round(float((exported.label == exported.text.map(intent_of)).mean()), 4),
        "offline DS": round(float((offline.reindex(truth.index) == truth).mean()), 4),
        "spammers paused": f"{sum(paused.get(p, False) for p in spammers)}/{len(spammers)}",
        "honest paused": f"{sum(paused.get(p, False) for p in honest)}/{len(honest)}",
        "errors": len(tally.errors),
        "twice": int(len(tally.seen) != tally.tasks),
        "minutes": round(seconds / 60, 1),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (policies as columns: the table stays narrow)."""
    lines = ["| | " + " | ".join(str(row["policy"]) for row in rows) + " |", "|---" * (len(rows) + 1) + "|"]
    lines += [
        f"| {key} | " + " | ".join(str(row[key]) for row in rows) + " |" for key in rows[0] if key != "policy"
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=1002, help="Create items (split over 3 languages).")
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32, help="Concurrent HTTP clients.")
    parser.add_argument(
        "--confidence",
        default="0.9,0.97,0.99",
        help="Dawid-Skene levels that settle an item, each LEVEL (after 2 answers) or FIRST:LEVEL.",
    )
    parser.add_argument("--fixed", default="3,5", help="Fixed redundancies to compare with.")
    parser.add_argument(
        "--postgres", default="", help="A PostgreSQL server URL ending in '/', to run on instead of SQLite."
    )
    args = parser.parse_args()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {backend}")
    policies = []
    for policy in filter(None, args.confidence.split(",")):
        first, _, level = policy.rpartition(":")
        step = {"answers": int(first or 2), "max_answers": 7, "confidence": float(level)}
        policies.append((f"DS ≥ {level} from {step['answers']}", step))
    policies += [(f"fixed {k}", {"answers": int(k)}) for k in filter(None, args.fixed.split(","))]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for number, (name, label_step) in enumerate(policies):
            with database(args.postgres, f"{folder}/tasks-{number}.db") as url:
                rows.append(run_policy(name, label_step, url, args))
            print(rows[-1], flush=True)
    print("\n" + markdown(rows))
    table = pd.DataFrame(rows)
    confident, fixed = table[table.policy.str.startswith("DS")], table[table.policy.str.startswith("fixed")]
    for _, peer in fixed.iterrows():
        cheaper = confident[confident.accuracy >= peer.accuracy].sort_values("label answers/item")
        if cheaper.empty:
            print(f"{peer.policy} ({peer.accuracy}): no confident policy was as accurate.")
            continue
        best = cheaper.iloc[0]
        saved = 1 - best["label answers/item"] / peer["label answers/item"]
        print(
            f"{peer.policy}: {peer['label answers/item']} label answers per item at {peer.accuracy}; "
            f"{best.policy}: {best['label answers/item']} at {best.accuracy}, {saved:.0%} fewer "
            "(target: at least 30 % fewer at equal accuracy)."
        )


if __name__ == "__main__":
    main()
