"""Structured personal data (email, phone, IBAN, credit card, IP, URL) found with Presidio's pattern
recognizers, offline, and replaced by pseudonyms that depend only on (key, type, value): the same
value gets the same pseudonym in every file under one key, and a different one under another key.
The pseudonym → value mapping is written beside the output, encrypted with the key (AES-GCM)."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from headstart.data.io import read_table, write_table_atomic
from headstart.data.labelled import LabelledTexts
from headstart.errors import ConfigError, DataError
from headstart.extras import optional
from headstart.files import write_text_atomic

ENTITIES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "CREDIT_CARD": "CARD",
    "IP_ADDRESS": "IP",
    "URL": "URL",
}
# Entity types of a headstart NER run that count as names of people and places.
NAME_TYPES = {
    "person": "PERSON",
    "per": "PERSON",
    "geo-loc": "PLACE",
    "loc": "PLACE",
    "location": "PLACE",
    "gpe": "PLACE",
}
Span = tuple[int, int, str]  # start, end, type
# Names of people and places: entities per text ({"start", "end", "label"}), e.g. a NER run's
# `predict`; its labels are mapped through NAME_TYPES.
NameFinder = Callable[[list[str]], list[list[dict[str, Any]]]]
PSEUDONYM = re.compile(r"<(?:EMAIL|PHONE|IBAN|CARD|IP|URL|PERSON|PLACE)_[0-9a-f]{12}>")
VAULT_SUFFIX = ".vault"


@functools.cache
def analyzer() -> Any:
    """Presidio's AnalyzerEngine with its pattern recognizers, offline (no spaCy model), built once."""
    with optional("Finding personal data"):
        import tldextract
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NoOpNlpEngine

    # The email recognizer checks domains with tldextract, whose default fetches the public-suffix
    # list from the internet: use the snapshot bundled with tldextract instead.
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # type: ignore[assignment]
    return AnalyzerEngine(nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}]))


def find(text: str) -> list[Span]:
    """Presidio's analyzer with its pattern recognizers, offline (no spaCy model)."""
    """Non-overlapping (start, end, type) spans of structured personal data; where recognizers
    overlap (an email's domain is also a URL), the higher score, then the longer span, wins."""
    found = analyzer().analyze(text=text, language="en", entities=list(ENTITIES))
    chosen: list[Span] = []
    for result in sorted(found, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        if all(result.end <= start or result.start >= end for start, end, _ in chosen):
            chosen.append((result.start, result.end, ENTITIES[result.entity_type]))
    return sorted(chosen)


KEY_ENV = "HEADSTART_PSEUDONYM_KEY"  # the key itself (64 hex digits), instead of a key file
FROM_ENV = "env"  # the key file name that means: read $HEADSTART_PSEUDONYM_KEY


def read_key(path: str | Path | None, create: bool = False) -> bytes:
    """A 32-byte key from a hex file, or from $HEADSTART_PSEUDONYM_KEY when `path` is None or
    'env'. With `create`, a new random key is written to a missing file (mode 600). A key or vault
    file that others may read is refused: the key opens every pseudonym."""
    if path is None or str(path) == FROM_ENV:
        return _parse_key(
            os.environ.get(KEY_ENV), f"${KEY_ENV}", "set it to 64 hex digits or pass a key file"
        )
    path = Path(path)
    if not path.is_file():
        if not create:
            raise ConfigError(f"Key file '{path}' does not exist; pass the key used to pseudonymize.")
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as stream:
            stream.write(os.urandom(32).hex())
    check_private(path)
    return _parse_key(
        path.read_text(encoding="utf-8"), f"Key file '{path}'", "use the file headstart created"
    )


def _parse_key(text: str | None, where: str, fix: str) -> bytes:
    if text is None:
        raise ConfigError(f"{where} is not set; {fix}.")
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{where} does not hold a 32-byte hex key; {fix}.")
    return key


def check_private(path: Path) -> None:
    """Refuse a secret file that its group or others may read or write."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(
            f"'{path}' is readable by others (mode {mode:o}); run `chmod 600 {path}` and try again."
        )


def find_all(texts: list[str], names: NameFinder | None = None) -> list[list[Span]]:
    """Structured spans of each text, plus the person and place names `names` finds (where they
    do not overlap a structured value)."""
    structured = [find(text) for text in texts]
    if names is None:
        return structured
    found = names(texts)
    spans = []
    for own, entities in zip(structured, found, strict=True):
        extra = [
            (e["start"], e["end"], NAME_TYPES[e["label"].lower()])
            for e in entities
            if e["label"].lower() in NAME_TYPES
        ]
        spans.append(sorted(own + [s for s in extra if all(s[1] <= a or s[0] >= b for a, b, _ in own)]))
    return spans


def tags_names(task_name: str, labels: list[str]) -> bool:
    """Whether a model's tags include people or places (what `NameFinder`s must find)."""
    return task_name == "ner" and bool(
        {label[2:].lower() for label in labels if label != "O"} & set(NAME_TYPES)
    )


class Pseudonymizer:
    """Replaces personal data by keyed pseudonyms and remembers each pseudonym's value."""

    def __init__(self, key: bytes, names: NameFinder | None = None) -> None:
        self.key = key
        self.names = names  # a NER run for person and place names, when given
        self.mapping: dict[str, str] = {}  # pseudonym -> original value

    def pseudonym(self, value: str, kind: str) -> str:
        """`<KIND_hex>`: the same for the same (key, kind, value)."""
        digest = hmac.new(self.key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()[:12]
        token = f"<{kind}_{digest}>"
        self.mapping[token] = value
        return token

    def texts(self, texts: list[str]) -> list[str]:
        """The texts with every span found replaced by its pseudonym."""
        results = []
        for text, spans in zip(texts, find_all(texts, self.names), strict=True):
            pieces, position = [], 0
            for start, end, kind in spans:
                pieces += [text[position:start], self.pseudonym(text[start:end], kind)]
                position = end
            results.append("".join(pieces) + text[position:])
        return results

    def text(self, text: str) -> str:
        """One text, pseudonymized."""
        return self.texts([text])[0]


def pseudonymize_texts(part: LabelledTexts, pseudonymizer: Pseudonymizer) -> LabelledTexts:
    """The same rows with personal data in texts, second texts and words replaced."""
    return dataclasses.replace(
        part,
        texts=pseudonymizer.texts(part.texts),
        pairs=None if part.pairs is None else pseudonymizer.texts(part.pairs),
        words=None
        if part.words is None
        else [[pseudonymizer.text(word) for word in row] for row in part.words],
    )


def pseudonymize_frame(frame: pd.DataFrame, pseudonymizer: Pseudonymizer) -> pd.DataFrame:
    """A copy with personal data replaced in every text cell."""
    frame = frame.copy()
    for column in _text_columns(frame):
        cells = frame[column].map(lambda v: isinstance(v, str))
        frame.loc[cells, column] = pseudonymizer.texts(frame.loc[cells, column].tolist())
    return frame


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, str)).any()]


def scan_file(path: str | Path, names: NameFinder | None = None) -> pd.DataFrame:
    """Counts of personal data by column and type; values are never returned."""
    frame = read_table(path)
    counts = [
        (column, kind)
        for column in _text_columns(frame)
        for spans in find_all(frame[column].dropna().astype(str).tolist(), names)
        for *_, kind in spans
    ]
    table = pd.DataFrame(counts, columns=["column", "type"])
    return (
        table.value_counts()
        .rename("count")
        .reset_index()
        .sort_values(["column", "type"])
        .reset_index(drop=True)
    )


def pseudonymize_file(
    path: str | Path, out: str | Path, key_file: str | Path | None, names: NameFinder | None = None
) -> int:
    """Write `path` with personal data replaced by pseudonyms, and the encrypted mapping beside it."""
    out = Path(out)
    pseudonymizer = Pseudonymizer(read_key(key_file, create=True), names)
    write_table_atomic(pseudonymize_frame(read_table(path, keep_types=True), pseudonymizer), out)
    write_vault(pseudonymizer, out.with_name(out.name + VAULT_SUFFIX))
    return len(pseudonymizer.mapping)


def write_vault(pseudonymizer: Pseudonymizer, path: Path) -> None:
    """The pseudonym → value mapping, encrypted with the key (AES-GCM), written to `path`."""
    with optional("The pseudonym vault"):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(pseudonymizer.key).encrypt(
        nonce, json.dumps(pseudonymizer.mapping).encode(), b"headstart-vault"
    )
    write_text_atomic(
        path,
        json.dumps({"nonce": base64.b64encode(nonce).decode(), "sealed": base64.b64encode(sealed).decode()}),
        mode=0o600,
    )


def read_vault(path: Path, key: bytes) -> dict[str, str]:
    """The mapping a vault holds, opened with the key."""
    with optional("The pseudonym vault"):
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not path.is_file():
        raise DataError(
            f"No mapping file '{path}' beside the pseudonymized data; "
            "it is written by `headstart privacy pseudonymize`."
        )
    check_private(path)
    sealed = json.loads(path.read_text(encoding="utf-8"))
    try:
        plain = AESGCM(key).decrypt(
            base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["sealed"]), b"headstart-vault"
        )
    except InvalidTag:
        raise ConfigError(
            f"The key does not open '{path}'; use the key the data was pseudonymized with."
        ) from None
    mapping: dict[str, str] = json.loads(plain)
    return mapping


def reidentify_file(path: str | Path, out: str | Path, key_file: str | Path | None) -> int:
    """Put the original values back in place of the pseudonyms; returns how many were replaced."""
    path = Path(path)
    mapping = read_vault(path.with_name(path.name + VAULT_SUFFIX), read_key(key_file))
    frame = read_table(path)
    replaced = 0

    def restore(match: re.Match[str]) -> str:
        nonlocal replaced
        replaced += 1
        return mapping.get(match.group(), match.group())

    for column in _text_columns(frame):
        frame[column] = frame[column].map(lambda v: PSEUDONYM.sub(restore, v) if isinstance(v, str) else v)
    write_table_atomic(frame, out)
    return replaced
