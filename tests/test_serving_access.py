"""`headstart serve` behind a load balancer: the API key, CORS, request ids, one error shape,
readiness, the bounded queue, metrics by route, offline /docs, TEI bodies, and every run kind."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.conftest import synthetic_rows
from tests.test_ner import conll_text, synthetic_sentences
from tests.test_tasks import regression_rows

import headstart
from headstart.workflows.microbatch import MicroBatcher, QueueFullError
from headstart.workflows.serving import API_KEY_ENV, ServeAccess, ServeLimits, create_app

KEY = "s3cret-token"
LIMITS = ServeLimits(max_texts=8, max_chars=500, max_body_bytes=20_000)
TINY = {"epochs": 1, "batch_size": 8, "patience": 0, "refit": "no", "checkpoint_every": 0, "max_length": 32}


@pytest.fixture(scope="module")
def open_client(tiny_run: headstart.Run):
    with TestClient(create_app(tiny_run, limits=LIMITS)) as client:
        yield client


@pytest.fixture(scope="module")
def locked_client(tiny_run: headstart.Run):
    access = ServeAccess(api_key=KEY, cors_origin=["https://app.example"])
    with TestClient(create_app(tiny_run, limits=LIMITS, access=access)) as client:
        yield client


def test_the_key_is_needed_everywhere_but_health(locked_client: TestClient) -> None:
    assert locked_client.get("/health").status_code == 200
    for path in ("/predict", "/metadata", "/metrics", "/ready", "/docs", "/openapi.json", "/nowhere"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            response = locked_client.request(
                "POST" if path == "/predict" else "GET", path, json={"text": "goal"}, headers=headers
            )
            assert response.status_code == 401, (path, headers)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert response.json()["status"] == 401
    good = {"Authorization": f"Bearer {KEY}"}
    assert locked_client.post("/predict", json={"text": "goal striker"}, headers=good).status_code == 200
    assert locked_client.get("/ready", headers=good).json() == {"status": "ready"}


def test_the_key_can_come_from_the_environment(
    tiny_run: headstart.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, KEY)
    with TestClient(create_app(tiny_run, limits=LIMITS)) as client:
        assert client.get("/metadata").status_code == 401
        assert client.get("/metadata", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_cors_is_off_unless_an_origin_is_given(open_client: TestClient, locked_client: TestClient) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    closed = open_client.options("/predict", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    allowed = locked_client.options("/predict", headers=preflight)  # preflights carry no key
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    other = locked_client.options("/predict", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_request_ids_are_echoed_or_made(open_client: TestClient) -> None:
    given = open_client.post("/predict", json={"text": "goal"}, headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = open_client.post("/predict", json={"text": ""}, headers={"X-Request-ID": "bad id\twith space"})
    assert made.headers["X-Request-ID"] != "bad id\twith space" and len(made.headers["X-Request-ID"]) == 32
    assert made.json()["request_id"] == made.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/predict", {"text": ""}, 422),
        ("POST", "/predict", {"texts": ["fine", "   \n\t"]}, 422),
        ("POST", "/predict", {"texts": ["fine", 7]}, 422),
        ("POST", "/predict", {"texts": [None]}, 422),
        ("POST", "/predict", {"texts": [{"a": 1}]}, 422),
        ("POST", "/predict", {"inputs": []}, 422),
        ("POST", "/predict", {"text": "a", "inputs": "b"}, 422),
        ("POST", "/predict", {}, 422),
        ("POST", "/predict", b'{"text": "lone \\ud800 surrogate"}', 422),
        ("POST", "/predict", b"\xff\xfe not utf-8", 422),
        ("POST", "/predict", b"{not json", 422),
        ("GET", "/predict", None, 405),
        ("GET", "/no/such/route", None, 404),
        ("DELETE", "/metadata", None, 405),
    ],
)
def test_every_error_has_one_shape(
    open_client: TestClient, method: str, path: str, body: object, status: int
) -> None:
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    response = open_client.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    error = response.json()
    assert set(error) == {"detail", "status", "request_id"}
    assert error["status"] == status and isinstance(error["detail"], str) and error["detail"]


def test_tei_inputs_are_accepted(open_client: TestClient, tiny_run: headstart.Run) -> None:
    texts = [row["text"] for row in synthetic_rows(per_class=1, seed=61)]
    one = open_client.post("/predict", json={"inputs": texts[0]}).json()
    assert one["label"] == tiny_run.predict(texts[:1])[0]
    many = open_client.post("/predict", json={"inputs": texts}).json()["predictions"]
    assert [answer["label"] for answer in many] == tiny_run.predict(texts)


def test_metrics_are_labelled_by_route_not_by_raw_path(open_client: TestClient) -> None:
    for number in range(20):
        open_client.get(f"/scan{number}")
    metrics = open_client.get("/metrics").text
    assert 'endpoint="unmatched",status="404"' in metrics
    assert "/scan" not in metrics


def test_docs_work_offline_from_the_installed_assets(open_client: TestClient) -> None:
    page = open_client.get("/docs")
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    script = open_client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000


def test_a_full_queue_refuses_at_once_and_readiness_says_so() -> None:
    async def scenario() -> None:
        def predict(rows: list) -> list:
            return [{"row": row} for row in rows]

        batcher = MicroBatcher(
            predict, max_batch=2, max_wait_ms=1000, max_queue=4, observe_batch=lambda n: None
        )
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["a", "b", "c"]))
        await asyncio.sleep(0)
        assert batcher.queued_texts == 3 and not batcher.saturated
        with pytest.raises(QueueFullError):
            await batcher.submit(["d", "e"])  # 3 + 2 > 4: refused, never queued
        assert batcher.queued_texts == 3
        assert await first == [{"row": "a"}, {"row": "b"}, {"row": "c"}]
        assert batcher.queued_texts == 0
        await batcher.stop()

    asyncio.run(scenario())


def test_a_fault_inside_is_a_500_in_the_same_shape_without_the_text(
    tiny_run: headstart.Run, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret text: alice@example.com")

    with TestClient(create_app(tiny_run, limits=LIMITS), raise_server_exceptions=False) as client:
        monkeypatch.setattr(tiny_run.predictor, "outputs", broken)
        response = client.post("/predict", json={"text": "alice@example.com wrote"})
    assert response.status_code == 500
    assert set(response.json()) == {"detail", "status", "request_id"}
    assert "alice" not in response.text and "alice" not in caplog.text
    assert "RuntimeError" in caplog.text


@pytest.fixture(scope="module")
def every_kind(tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, headstart.Run]:
    """An ensemble, a multi-task, an NER and a regression run, on the tiny random BERT."""
    folder = tmp_path_factory.mktemp("kinds")
    rows = pd.DataFrame(synthetic_rows(per_class=20, seed=71))
    rows["tone"] = ["good" if i % 2 else "bad" for i in range(len(rows))]
    rows.to_csv(folder / "rows.csv", index=False)
    (folder / "ner.conll").write_text(conll_text(synthetic_sentences(60, seed=72)), encoding="utf-8")
    pd.DataFrame(regression_rows(60, seed=73)).to_csv(folder / "scores.csv", index=False)
    common = {"model": tiny_model, **TINY}
    members = [
        headstart.train(
            folder / "rows.csv", out=folder / f"m{seed}", strategy="features", seed=seed, **common
        )
        for seed in (1, 2)
    ]
    return {
        "ensemble": headstart.ensemble([m.path for m in members], out=folder / "ensemble"),
        "multitask": headstart.train(
            folder / "rows.csv",
            out=folder / "multitask",
            strategy="multitask",
            strategy_options={"columns": ["tone"]},
            **common,
        ),
        "ner": headstart.train(folder / "ner.conll", out=folder / "ner", strategy="features", **common),
        "regression": headstart.train(
            folder / "scores.csv", out=folder / "reg", strategy="features", **common
        ),
    }


@pytest.mark.parametrize(
    ("kind", "key"),
    [("ensemble", "label"), ("multitask", "label"), ("ner", "entities"), ("regression", "value")],
)
@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_every_run_kind_serves(
    every_kind: dict[str, headstart.Run], kind: str, key: str, variant: str
) -> None:
    run = headstart.load_run(every_kind[kind].path, variant=variant)
    with TestClient(create_app(run, variant, LIMITS)) as client:
        answer = client.post("/predict", json={"texts": ["Alice flew to Paris", "goal striker match"]})
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert len(predictions) == 2 and all(key in p for p in predictions)
        assert client.get("/metadata").status_code == 200 and client.get("/ready").status_code == 200
