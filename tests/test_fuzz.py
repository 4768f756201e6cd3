"""Fuzzed boundaries (hypothesis): random JSON shapes, bytes and odd Unicode (control characters,
surrogates, right-to-left marks, 1 MB strings) at /predict, the file readers, crowd aggregation
and the personal-data scanner. What may come out: a result, a 4xx in the one error shape, or a
HeadstartError (one line at the CLI); never a 500 or another exception."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import string
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headstart
from headstart.data.io import read_table
from headstart.errors import HeadstartError
from headstart.labels.aggregate import aggregate, read_answers
from headstart.privacy.pseudonyms import Pseudonymizer, find
from headstart.workflows.serving import ServeLimits, create_app

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)
ODD = st.sampled_from(
    ["\u200f", "\u202e", "\u0000", "\x1b[31m", "\ud800", "\udfff", "\ufeff", "\u0301", "😀"]
)
odd_text = st.lists(st.one_of(st.text(max_size=20), ODD), max_size=8).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | odd_text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["text", "texts", "inputs", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def client(tiny_run: headstart.Run):
    with TestClient(
        create_app(tiny_run, limits=ServeLimits(max_chars=2_000_000, max_body_bytes=5_000_000))
    ) as c:
        yield c


def check_answer(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()) == {"detail", "status", "request_id"}


@FUZZ
@given(body=json_values)
def test_predict_with_random_json(client: TestClient, body: object) -> None:
    content = json.dumps(body, ensure_ascii=True).encode()  # \ud800 travels as its escape
    check_answer(client.post("/predict", content=content, headers={"content-type": "application/json"}))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_predict_with_random_bytes(client: TestClient, raw: bytes) -> None:
    check_answer(client.post("/predict", content=raw, headers={"content-type": "application/json"}))


@FUZZ
@given(texts=st.lists(odd_text, min_size=1, max_size=4))
def test_predict_with_odd_unicode(client: TestClient, texts: list[str]) -> None:
    check_answer(
        client.post(
            "/predict",
            content=json.dumps({"texts": texts}).encode(),
            headers={"content-type": "application/json"},
        )
    )


def test_predict_a_one_megabyte_text(client: TestClient, tiny_run: headstart.Run) -> None:
    text = "goal striker match " * 55_000
    answer = client.post("/predict", json={"text": text})
    assert answer.status_code == 200 and answer.json()["label"] == tiny_run.predict([text])[0]


@FUZZ
@given(texts=st.lists(odd_text, min_size=1, max_size=4))
def test_the_python_api_raises_only_headstart_errors(tiny_run: headstart.Run, texts: list[str]) -> None:
    with contextlib.suppress(HeadstartError):
        assert len(tiny_run.predict(texts, show_progress=False)) == len(texts)


@FUZZ
@given(
    raw=st.binary(max_size=300),
    suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet", ".xlsx", ".conll"]),
)
def test_readers_with_random_bytes(tmp_path: Path, raw: bytes, suffix: str) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(raw)
    with contextlib.suppress(HeadstartError):
        assert isinstance(read_table(path), pd.DataFrame)


@FUZZ
@given(text=odd_text)
def test_readers_with_odd_unicode_cells(tmp_path: Path, text: str) -> None:
    rows = [{"text": text, "label": "a"}, {"text": "plain", "label": "b"}]
    escaped = "\n".join(json.dumps(row) for row in rows)  # \ud800 as its escape
    table = io.StringIO()
    csv.writer(table).writerows([["text", "label"], [text, "a"], ["plain", "b"]])
    for name, content in (("cells.csv", table.getvalue()), ("cells.jsonl", escaped)):
        path = tmp_path / name
        path.write_text(content, encoding="utf-8", errors="surrogatepass")  # raw surrogates: invalid UTF-8
        with contextlib.suppress(HeadstartError):
            read_table(path)


cells = st.one_of(st.none(), st.text(alphabet=string.ascii_letters + " \t", max_size=3), odd_text)


@FUZZ
@given(
    rows=st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=30),
    method=st.sampled_from(["mv", "ds", "glad"]),
)
def test_aggregation_of_random_answers(tmp_path: Path, rows: list[tuple], method: str) -> None:
    path = tmp_path / "answers.csv"
    table = io.StringIO()
    csv.writer(table).writerows([["item", "annotator", "label"], *rows])  # None: an empty cell
    path.write_text(table.getvalue(), encoding="utf-8", errors="surrogatepass")  # surrogates: bad UTF-8
    with contextlib.suppress(HeadstartError):
        result = aggregate(read_answers(path), method)
        assert set(result.gold["item"]) <= {str(item).strip() for item, _, _ in rows}


@FUZZ
@given(text=st.one_of(odd_text, st.text(max_size=300)))
def test_the_scanner_and_pseudonymizer_take_any_text(text: str) -> None:
    spans = find(text)
    assert all(0 <= start < end <= len(text) for start, end, _ in spans)
    replaced = Pseudonymizer(b"k" * 32).text(text)
    assert isinstance(replaced, str)
