"""`headstart serve`: the HTTP API, its limits, and micro-batching of concurrent requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from tests.conftest import KEYWORDS, synthetic_rows

import headstart
from headstart.workflows.serving import ServeLimits, create_app


@pytest.fixture(scope="module")
def client(tiny_run: headstart.Run):
    limits = ServeLimits(max_batch=32, max_wait_ms=100, max_texts=8, max_chars=500, max_body_bytes=20_000)
    with TestClient(create_app(tiny_run, limits=limits)) as test_client:
        yield test_client


def test_predict_one_text_and_a_batch_match_the_run(client: TestClient, tiny_run: headstart.Run) -> None:
    texts = [row["text"] for row in synthetic_rows(per_class=1, seed=51)]
    one = client.post("/predict", json={"text": texts[0]})
    assert one.status_code == 200
    assert one.json()["label"] == tiny_run.predict(texts[:1])[0]
    assert sum(one.json()["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    batch = client.post("/predict", json={"texts": texts})
    assert [p["label"] for p in batch.json()["predictions"]] == tiny_run.predict(texts)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 422),
        (b'{"text": 5}', 422),
        (b'{"txt": "hello"}', 422),
        (b'{"text": "a", "texts": ["b"]}', 422),
        (b'{"texts": []}', 422),
        (b'["just", "a", "list"]', 422),
        (b'{"texts": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}', 413),  # over max_texts
        (b'{"text": "' + b"x" * 600 + b'"}', 413),  # over max_chars
        (b'{"text": "' + b"x" * 30_000 + b'"}', 413),  # over max_body_bytes
        (b'{"text": ["a pair", "for a single-text model"]}', 422),
    ],
)
def test_bad_requests_get_4xx_with_a_reason(client: TestClient, body: bytes, status: int) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["detail"]


def test_concurrent_requests_share_forward_passes(client: TestClient, tiny_run: headstart.Run) -> None:
    texts = [row["text"] for row in synthetic_rows(per_class=4, seed=52)]
    before = _metric(client, "headstart_batch_texts_count")
    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        answers = list(
            pool.map(lambda text: client.post("/predict", json={"text": text}).json()["label"], texts)
        )
    assert answers == tiny_run.predict(texts)  # every request got its own row back
    passes = _metric(client, "headstart_batch_texts_count") - before
    assert passes < len(texts)


def test_health_metadata_metrics_and_docs(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    metadata = client.get("/metadata").json()
    assert metadata["labels"] == sorted(KEYWORDS) and metadata["task"] == "classification"
    assert metadata["limits"]["max_texts"] == 8 and "accuracy" in metadata["test_metrics"]
    client.post("/predict", json={"texts": []})
    metrics = client.get("/metrics").text
    assert 'headstart_requests_total{endpoint="/predict",status="422"}' in metrics
    assert "headstart_request_seconds_bucket" in metrics
    assert client.get("/openapi.json").json()["paths"]["/predict"]


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0
