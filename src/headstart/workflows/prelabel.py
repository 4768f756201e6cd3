"""`headstart labels prelabel`: a chat model behind any OpenAI-compatible endpoint labels each
text, and its answers come out in the crowd answers format (annotator = the model's name), so
`labels aggregate` weighs it like any annotator and `train --annotations` distils it.

Personal data is pseudonymised before a text leaves the machine (unless `send_raw`); the
examples shown to the model too. Requests run `concurrency` at a time; each response is cached on
disk as it arrives, so a run stopped part-way resumes, and an answer that does not parse as one
of the labels is recorded as unparseable, never guessed.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from headstart.data.columns import find_text_column
from headstart.data.dataset import load_labelled
from headstart.data.io import read_table, write_table_atomic
from headstart.errors import ConfigError, DataError
from headstart.files import write_text_atomic
from headstart.labels.aggregate import ITEM_COLUMNS
from headstart.labels.chat import (
    ChatAnnotator,
    Reply,
    RequestFailedError,
    ResponseCache,
    parse_answer,
    prompt,
)
from headstart.privacy.pseudonyms import Pseudonymizer, read_key
from headstart.progress import progress_bar
from headstart.workflows.predict_file import check_output_format


def prelabel(
    data: str | Path,
    out: str | Path,
    *,
    endpoint: str,
    model: str,
    labels: list[str],
    api_key_env: str | None = None,
    descriptions: str | Path | None = None,
    shots: int = 0,
    examples: str | Path | None = None,
    send_raw: bool = False,
    key_file: str | Path | None = None,
    cache: str | Path | None = None,
    report: str | Path | None = None,
    concurrency: int = 4,
    timeout: float = 60.0,
    max_retries: int = 4,
    text_col: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Label every text of `data` with `model` at `endpoint`; write the answers to `out` and
    return the report (also written to `report`): counts, unparseable and failed items, tokens."""
    labels = check_request(out, labels, shots, examples, concurrency)
    texts, items = read_texts(data, text_col)
    cache_path = Path(cache) if cache is not None else Path(f"{out}.cache.jsonl")
    hide = (lambda given: given) if send_raw else pseudonymise(Path(key_file or f"{cache_path}.key"))
    examples_shown = hide_examples(draw_examples(examples, labels, shots, seed), hide)
    meanings = read_descriptions(descriptions, labels)
    requests = [prompt(text, labels, meanings, examples_shown) for text in hide(texts)]
    annotator = ChatAnnotator(endpoint, model, api_key(api_key_env), timeout, max_retries)
    replies = ask_all(annotator, ResponseCache(cache_path), requests, labels, concurrency)
    found = [parse_answer(reply.content, labels) if isinstance(reply, Reply) else None for reply in replies]
    failed = {item: reply for item, reply in zip(items, replies, strict=True) if isinstance(reply, str)}
    if len(failed) == len(texts):
        raise ConfigError(
            f"No request to {endpoint} succeeded ({next(iter(failed.values()))}); check --endpoint "
            "and that the server runs."
        )
    answered = [i for i, label in enumerate(found) if label is not None]
    answers = pd.DataFrame(
        {
            "item": [items[i] for i in answered],
            "annotator": model,
            "label": [found[i] for i in answered],
            "text": [texts[i] for i in answered],
        }
    )
    write_table_atomic(answers, Path(out))
    facts = summary(model, items, replies, found, failed, annotator.structured, not send_raw)
    if report is not None:
        write_text_atomic(Path(report), json.dumps(facts, indent=2))
    return facts


def check_request(
    out: str | Path, labels: list[str], shots: int, examples: str | Path | None, concurrency: int
) -> list[str]:
    """The label set, once each, after the checks that need no data."""
    check_output_format(out)
    labels = list(dict.fromkeys(label.strip() for label in labels if label.strip()))
    if len(labels) < 2:
        raise ConfigError(f"Give at least two labels (--labels a,b,...); got {labels}.")
    if shots < 0 or (shots > 0 and examples is None) or concurrency < 1:
        raise ConfigError(
            f"--shots needs --examples and must be at least 0, --concurrency at least 1; got "
            f"--shots {shots}, --concurrency {concurrency}."
        )
    return labels


def read_texts(data: str | Path, text_col: str | None) -> tuple[list[str], list[Any]]:
    """The texts to label and their item ids: the file's id/item column, else the row number."""
    frame = read_table(data, keep_types=True)
    source = f"'{Path(data).name}'"
    column = find_text_column(frame, text_col, source)
    texts = frame[column]
    if texts.isna().any() or not len(texts):
        raise DataError(f"{source} has empty text cells or no rows; fill or remove them.")
    id_column = next((c for c in frame.columns if str(c).lower() in ITEM_COLUMNS), None)
    items = frame[id_column].tolist() if id_column is not None else list(frame.index)
    return texts.astype(str).tolist(), items


def api_key(variable: str | None) -> str:
    """The key from the named environment variable; without one, a placeholder for local servers."""
    if variable is None:
        return os.environ.get("OPENAI_API_KEY", "no-key")
    if not os.environ.get(variable):
        raise ConfigError(
            f"${variable} is not set; export the endpoint's API key in it, or drop --api-key-env."
        )
    return os.environ[variable]


def pseudonymise(key_file: Path) -> Callable[[list[str]], list[str]]:
    """Texts → the same texts with personal data replaced by keyed pseudonyms. The key (created
    beside the cache when missing) keeps them the same from run to run, so cached replies match."""
    pseudonymizer = Pseudonymizer(read_key(key_file, create=True))
    return pseudonymizer.texts


def draw_examples(
    examples: str | Path | None, labels: list[str], shots: int, seed: int
) -> list[tuple[str, str]]:
    """`shots` labelled examples of the label set, the labels taken in turn, drawn with `seed`."""
    if not shots or examples is None:
        return []
    labelled = load_labelled(str(examples), None, None)
    by_label: dict[str, list[str]] = {label: [] for label in labels}
    for text, label in zip(labelled.texts, labelled.labels, strict=True):
        if str(label) in by_label:
            by_label[str(label)].append(text)
    rng = random.Random(seed)
    pools = {label: rng.sample(texts, len(texts)) for label, texts in by_label.items() if texts}
    if not pools:
        raise DataError(f"'{Path(examples).name}' has no example of the labels {labels}.")
    drawn: list[tuple[str, str]] = []
    while len(drawn) < shots and any(pools.values()):
        for label, pool in pools.items():
            if pool and len(drawn) < shots:
                drawn.append((pool.pop(), label))
    return drawn


def hide_examples(
    examples: list[tuple[str, str]], hide: Callable[[list[str]], list[str]]
) -> list[tuple[str, str]]:
    """The examples with their texts as they will be sent."""
    texts = hide([text for text, _ in examples]) if examples else []
    return [(text, label) for text, (_, label) in zip(texts, examples, strict=True)]


def read_descriptions(path: str | Path | None, labels: list[str]) -> dict[str, str]:
    """label → description, from a YAML or JSON mapping."""
    if path is None:
        return {}
    try:
        meanings = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"Cannot read --descriptions '{path}': {type(error).__name__}.") from None
    if not isinstance(meanings, dict) or not set(map(str, meanings)) <= set(labels):
        raise ConfigError(
            f"--descriptions '{Path(path).name}' must map labels of {labels} to descriptions, "
            "e.g. `sport: football, tennis`."
        )
    return {str(label): str(text) for label, text in meanings.items()}


def ask_all(
    annotator: ChatAnnotator,
    cache: ResponseCache,
    requests: list[list[dict[str, str]]],
    labels: list[str],
    concurrency: int,
) -> list[Reply | str]:
    """Each request's reply (from the cache when it holds one), or why it failed."""

    def one(messages: list[dict[str, str]]) -> Reply | str:
        key = ResponseCache.key(annotator.model, messages)
        kept = cache.get(key)
        if kept is not None:
            return kept
        try:
            reply = annotator.ask(messages, labels)
        except RequestFailedError as error:
            return str(error)
        cache.put(key, reply)
        return reply

    replies: list[Reply | str] = []
    with (
        progress_bar(f"Asking {annotator.model}", len(requests)) as bar,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        for reply in pool.map(one, requests):
            replies.append(reply)
            bar.advance()
    return replies


def summary(
    model: str,
    items: list[Any],
    replies: list[Reply | str],
    found: list[str | None],
    failed: dict[Any, str],
    structured: bool,
    pseudonymised: bool,
) -> dict[str, Any]:
    """What the run did, with item ids only (no text): counts, the items to look at, and the
    tokens this run spent (cached replies cost none)."""
    got = [reply for reply in replies if isinstance(reply, Reply)]
    spent = [reply for reply in got if not reply.cached]
    unparseable = [
        item
        for item, reply, label in zip(items, replies, found, strict=True)
        if isinstance(reply, Reply) and label is None
    ]
    return {
        "model": model,
        "texts": len(items),
        "answered": sum(label is not None for label in found),
        "unparseable": [str(item) for item in unparseable],
        "failed": {str(item): reason for item, reason in failed.items()},
        "from_cache": sum(reply.cached for reply in got),
        "structured_output": structured,
        "pseudonymised": pseudonymised,
        "prompt_tokens": sum(reply.prompt_tokens for reply in spent),
        "completion_tokens": sum(reply.completion_tokens for reply in spent),
    }
