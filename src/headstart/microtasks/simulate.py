"""A simulated crowd of app clients for the task service, over HTTP: annotators of varied skill,
some of them spammers, each declaring languages, answering whatever task the service hands them.
Tests and `benchmarks/microtasks_crowd.py` run it against a real server on loopback; it is also a
load test for a deployment:

    python -m headstart.microtasks.simulate --url http://127.0.0.1:8100 --token $APP --project intents

The simulated work follows a phrase bank: three intents (greeting, booking, complaint), a few
sentences each in English, French and German. A good writer writes a sentence of the asked intent
in the asked language; a spammer writes an English sentence of any intent. A good validator accepts
a text of the intent its prompt asked for, and errs with the opposite verdict at its error rate; a
good labeller gives the true intent with its accuracy. Spammers answer at random, in half a second.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

INTENTS = ("greeting", "booking", "complaint")
PHRASES = {
    "en": {
        "greeting": [
            "Hello there, I just wanted to say good morning to the whole team",
            "Hi, I hope you are all having a lovely day today",
        ],
        "booking": [
            "I would like to book a table for four people on Friday evening",
            "Can I reserve a double room for two nights next week please",
        ],
        "complaint": [
            "My order arrived broken and nobody answered my emails about it",
            "The service was terrible and I want my money back now",
        ],
    },
    "fr": {
        "greeting": [
            "Bonjour à tous, je voulais simplement vous souhaiter une bonne journée",
            "Salut, j'espère que vous allez tous très bien aujourd'hui",
        ],
        "booking": [
            "Je voudrais réserver une table pour quatre personnes vendredi soir",
            "Est-ce que je peux réserver une chambre double pour deux nuits",
        ],
        "complaint": [
            "Ma commande est arrivée cassée et personne ne répond à mes messages",
            "Le service était vraiment mauvais et je veux être remboursé",
        ],
    },
    "de": {
        "greeting": [
            "Hallo zusammen, ich wollte euch allen einen schönen guten Morgen wünschen",
            "Hallo, ich hoffe, es geht euch allen heute wirklich gut",
        ],
        "booking": [
            "Ich möchte gerne einen Tisch für vier Personen am Freitagabend reservieren",
            "Kann ich bitte ein Doppelzimmer für zwei Nächte buchen",
        ],
        "complaint": [
            "Meine Bestellung kam kaputt an und niemand antwortet auf meine Nachrichten",
            "Der Service war furchtbar und ich möchte mein Geld zurück",
        ],
    },
}


def intent_of(text: str) -> str | None:
    """The intent of a phrase-bank text (a numbered variant of one), or None."""
    for languages in PHRASES.values():
        for intent, phrases in languages.items():
            if any(text.startswith(phrase) for phrase in phrases):
                return intent
    return None


def prompts(
    per_language: int, languages: tuple[str, ...] = ("en", "fr", "de"), seed: int = 0
) -> list[dict[str, Any]]:
    """Rows for a create step: write a text of an intent, in a language (the intent in the data)."""
    rng = random.Random(seed)
    rows = []
    for language in languages:
        for number in range(per_language):
            intent = rng.choice(INTENTS)
            rows.append(
                {
                    "text": f"Write what a customer might say: {intent}",
                    "language": language,
                    "id": f"{language}-{number}",
                    "data": {"intent": intent},
                }
            )
    return rows


def gold_rows() -> list[dict[str, Any]]:
    """Rows for a label step's gold items: each phrase-bank sentence with its intent."""
    return [
        {"text": f"{text} (gold)", "language": language, "gold": intent}
        for language, by_intent in PHRASES.items()
        for intent, phrases in by_intent.items()
        for text in phrases
    ]


@dataclass
class Annotator:
    """A simulated person: their app id, languages, how often they are right, whether they spam."""

    user: str
    languages: list[str]
    accuracy: float
    spammer: bool

    def answer(self, task: dict[str, Any], rng: random.Random, serial: int) -> tuple[Any, float]:
        """The answer to a task and the seconds it took."""
        kind, text, language = task["kind"], task["text"], task["language"]
        if self.spammer:
            return self._spam(kind, task, rng, serial), 0.5
        if kind == "create":
            intent = text.rsplit(": ", 1)[-1]
            return {"text": f"{rng.choice(PHRASES[language][intent])} ({serial})"}, rng.uniform(8, 20)
        truth = intent_of(text)
        if kind == "validate":  # is the text of the intent its prompt asked for?
            fits = truth is not None and truth == task["data"].get("intent")
            accept = fits if rng.random() < self.accuracy else not fits
            verdict = {"accept": True} if accept else {"accept": False, "reason": "not the intent asked"}
            return verdict, rng.uniform(3, 8)
        labels = task["options"]["labels"]
        label = truth if truth in labels and rng.random() < self.accuracy else rng.choice(labels)
        return label, rng.uniform(3, 8)

    @staticmethod
    def _spam(kind: str, task: dict[str, Any], rng: random.Random, serial: int) -> Any:
        if kind == "create":
            return {"text": f"{rng.choice(PHRASES['en'][rng.choice(INTENTS)])} ({serial})"}
        if kind == "validate":
            return {"accept": True} if rng.random() < 0.5 else {"accept": False, "reason": "no"}
        return rng.choice(task["options"]["labels"])


def crowd(
    size: int, spammers: float, languages: tuple[str, ...] = ("en", "fr", "de"), seed: int = 0
) -> list[Annotator]:
    """`size` annotators: a share `spammers` answer at random; the others are right 75-97 % of the
    time; each speaks one or two of `languages`."""
    rng = random.Random(seed)
    people = []
    for number in range(size):
        spoken = rng.sample(languages, rng.choice((1, 1, 2)))
        spammer = number < round(size * spammers)
        people.append(
            Annotator(f"person-{number}", spoken, 0.5 if spammer else rng.uniform(0.75, 0.97), spammer)
        )
    rng.shuffle(people)
    return people


@dataclass
class Tally:
    """What the clients did, counted across threads."""

    tasks: int = 0
    answers: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)  # (annotator, assignment): each once
    accepted: set[str] = field(default_factory=set)  # assignments whose answer the server stored
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_work: float = 0.0  # time.monotonic() at the end of the last round in which anyone answered
    quiet: dict[int, int] = field(default_factory=dict)  # client: empty rounds begun after last_work
    done: bool = False

    def end_round(self, client: int, began: float, worked: bool, idle_rounds: int) -> bool:
        """Record a client's round; whether the whole crowd is done: once every client still
        connected has found nothing `idle_rounds` times in rounds begun after anyone's last answer.
        A client idle on its own must not stop: a follow-up item, made by an answer elsewhere, may
        be for its annotators only. Done stays done, since a gold item may still turn up at random."""
        with self.lock:
            if worked:
                self.last_work = time.monotonic()
                self.quiet = dict.fromkeys(self.quiet, 0)
            elif began > self.last_work:
                self.quiet[client] += 1
            self.done = self.done or all(count >= idle_rounds for count in self.quiet.values())
            return self.done

    def leave(self, client: int, error: str) -> None:
        """A client that cannot go on (its server is gone, a reply it cannot read) stops, and no
        longer holds the others up."""
        with self.lock:
            self.errors.append(error)
            self.quiet.pop(client, None)


def run_crowd(
    base_url: str,
    token: str,
    project: str,
    people: list[Annotator],
    clients: int,
    stop: Callable[[], bool],
    seed: int = 0,
    idle_rounds: int = 3,
) -> Tally:
    """`clients` threads, each taking turns as the annotators of its share, until `stop()` or until
    every client has found no task for any of its annotators `idle_rounds` times since the last
    answer anyone gave."""
    tally = Tally()
    shares = [share for share in (people[number::clients] for number in range(clients)) if share]
    tally.quiet = dict.fromkeys(range(len(shares)), 0)
    threads = [
        threading.Thread(
            target=_client, args=(base_url, token, project, share, stop, n, seed, idle_rounds, tally)
        )
        for n, share in enumerate(shares)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def _client(
    base_url: str,
    token: str,
    project: str,
    share: list[Annotator],
    stop: Callable[[], bool],
    number: int,
    seed: int,
    idle_rounds: int,
    tally: Tally,
) -> None:
    rng = random.Random(seed + number)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        while not stop():
            began = time.monotonic()
            try:
                worked = _round(client, project, share, rng, tally)
            except httpx.TransportError as error:  # the server is gone: this client stops
                tally.leave(number, f"transport: {type(error).__name__}")
                return
            except Exception as error:  # a reply the client cannot read: counted, never a hang
                tally.leave(number, f"client: {type(error).__name__}: {error}")
                return
            if tally.end_round(number, began, worked, idle_rounds):
                return
            if not worked:
                time.sleep(0.05)


def _round(
    client: httpx.Client, project: str, share: list[Annotator], rng: random.Random, tally: Tally
) -> bool:
    """Each annotator of the share asks for a task and answers it; whether anyone had one."""
    worked = False
    for person in share:
        reply = client.get(
            "/next-task",
            params={"project": project, "annotator": person.user, "lang": ",".join(person.languages)},
        )
        task = reply.json().get("task") if reply.status_code == 200 else None
        if reply.status_code != 200:
            with tally.lock:
                tally.errors.append(f"next-task {reply.status_code}")
        if task is None:
            continue
        worked = True
        with tally.lock:
            tally.tasks += 1
            serial = tally.tasks
        value, seconds = person.answer(task, rng, serial)
        body = {"assignment": task["assignment"], "value": value, "seconds": seconds}
        answered = client.post("/answers", json=body)
        with tally.lock:
            tally.seen.add((person.user, task["assignment"]))
            if answered.status_code == 200:
                tally.answers += 1
                tally.refused += 0 if answered.json()["accepted"] else 1
                tally.accepted.add(task["assignment"])
            elif answered.status_code != 409:  # 409: settled meanwhile, a normal race
                tally.errors.append(f"answers {answered.status_code}")
    return worked


def main() -> None:
    """Run a simulated crowd against a task service until it has no task left for anyone."""
    parser = argparse.ArgumentParser(
        description="A simulated crowd of app clients for `headstart tasks serve`."
    )
    parser.add_argument("--url", required=True, help="The service, e.g. http://127.0.0.1:8100")
    parser.add_argument("--token", required=True, help="An app token (`headstart tasks token NAME`).")
    parser.add_argument("--project", required=True)
    parser.add_argument("--annotators", type=int, default=40)
    parser.add_argument("--spammers", type=float, default=0.2, help="The share answering at random.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent HTTP clients.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    people = crowd(args.annotators, args.spammers, seed=args.seed)
    started = time.perf_counter()
    tally = run_crowd(args.url, args.token, args.project, people, args.clients, lambda: False, args.seed)
    seconds = time.perf_counter() - started
    print(
        f"{tally.tasks} tasks, {tally.answers} answers ({tally.refused} refused) in {seconds:.1f} s "
        f"({tally.tasks / seconds:.1f} tasks/s); {len(tally.errors)} errors"
    )


if __name__ == "__main__":
    main()
