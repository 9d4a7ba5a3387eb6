"""The real server, started in a subprocess on loopback, spoken to over HTTP."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from tuneforge import api  # noqa: E402
from tuneforge.config import build_config  # noqa: E402

from .conftest import KEY, Server, free_port, wait_for  # noqa: E402


@pytest.fixture(scope="module")
def server(bundles):
    srv = Server(bundles["cls"], "--max-texts", 4, "--max-text-chars", 200, "--max-body-bytes", 2000,
                 log_dir=bundles["tmp"])
    yield srv
    srv.stop()


def test_predict_one_text_and_a_list(server):
    one = httpx.post(server.url + "/v1/predict", json={"text": "a great movie"})
    assert one.status_code == 200
    (prediction,) = one.json()["predictions"]
    assert prediction["label"] in {"positive", "negative"} and set(prediction["scores"]) == {"positive", "negative"}
    many = httpx.post(server.url + "/v1/predict", json={"texts": ["a great movie", "so boring", "fun"]})
    assert many.status_code == 200 and len(many.json()["predictions"]) == 3
    assert many.json()["predictions"][0] == prediction  # the same text, the same answer, in any batch


def test_models_health_metrics_and_docs(server):
    models = httpx.get(server.url + "/v1/models").json()
    assert models["task"]["type"] == "classification" and models["method"]["name"] == "full"
    assert "versions" in models and "metrics" in models
    assert models["backend"] == "torch" and models["precision"] in ("fp32", "bf16")
    assert httpx.get(server.url + "/livez").json() == {"status": "alive"}
    assert httpx.get(server.url + "/readyz").json()["status"] == "ready"
    httpx.post(server.url + "/v1/predict", json={"texts": ["a", "b"]})
    text = httpx.get(server.url + "/metrics").text
    for name in ("tuneforge_requests_total", "tuneforge_request_latency_seconds_bucket", "tuneforge_batch_size_bucket",
                 "tuneforge_queue_depth", "tuneforge_rejected_total"):
        assert name in text
    assert 'tuneforge_requests_total{route="/v1/predict",status="200"}' in text
    assert httpx.get(server.url + "/docs").status_code == 200
    assert "/v1/predict" in httpx.get(server.url + "/openapi.json").json()["paths"]


@pytest.mark.parametrize("body, status, message", [
    ({"texts": ["a"] * 5}, 422, "the limit is 4"),
    ({"text": "x" * 201}, 422, "the limit is 200"),
    ({"text": ""}, 422, "empty"),
    ({"texts": []}, 422, "non-empty list"),
    ({"txt": "hello"}, 422, "unknown fields"),
    ({"texts": "not a list"}, 422, "non-empty list"),
    ("not json at all", 422, "not valid JSON"),
    ({"texts": ["y" * 150] * 20}, 413, "over 2000 bytes"),
])
def test_bad_input_gets_a_4xx_with_a_message(server, body, status, message):
    if isinstance(body, str):
        response = httpx.post(server.url + "/v1/predict", content=body.encode(),
                              headers={"Content-Type": "application/json"})
    else:
        response = httpx.post(server.url + "/v1/predict", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_entities_with_character_spans(bundles, tmp_path):
    srv = Server(bundles["ner"], log_dir=tmp_path)
    try:
        text = "mary works at google in london"
        (prediction,) = httpx.post(srv.url + "/v1/predict", json={"text": text}).json()["predictions"]
        assert prediction["tokens"] == text.split()
        for entity in prediction["entities"]:
            assert text[entity["start"]:entity["end"]] == entity["text"]
    finally:
        srv.stop()


def test_concurrent_requests_share_forward_passes_and_logs_hold_no_text(bundles, tmp_path):
    srv = Server(bundles["cls"], "--max-wait-ms", 200, log_dir=tmp_path, delay_ms=100)
    try:
        async def burst():
            async with httpx.AsyncClient() as client:
                return await asyncio.gather(*[client.post(srv.url + "/v1/predict", json={"text": f"great movie {i}"},
                                                          timeout=30) for i in range(8)])

        responses = asyncio.run(burst())
        assert all(r.status_code == 200 for r in responses)
        predict_lines = [line for line in srv.access_lines() if line["route"] == "/v1/predict"]
        assert max(line["batch_size"] for line in predict_lines) > 1  # several requests in one forward pass
        assert {"id", "route", "status", "latency_ms", "batch_size"} <= set(predict_lines[0])
        assert "great movie" not in srv.log.read_text()
    finally:
        srv.stop()


def test_overload_deadline_and_disconnect(bundles, tmp_path):
    srv = Server(bundles["cls"], "--max-queue", 2, "--max-batch-size", 1, "--max-wait-ms", 0, "--timeout", 1.0,
                 log_dir=tmp_path, delay_ms=600)
    try:
        async def flood():
            async with httpx.AsyncClient() as client:
                return await asyncio.gather(*[client.post(srv.url + "/v1/predict", json={"text": "fun"}, timeout=30)
                                              for _ in range(8)])

        statuses = [r.status_code for r in asyncio.run(flood())]
        assert 429 in statuses and 200 in statuses and 504 in statuses
        assert all(s in (200, 429, 504) for s in statuses)  # never a 500
        rejected = [r for r in asyncio.run(flood()) if r.status_code == 429]
        assert rejected and rejected[0].headers["retry-after"] == "1"
        # everything drains: the freed slots serve again
        wait_for(lambda: httpx.post(srv.url + "/v1/predict", json={"text": "fun"}, timeout=30).status_code == 200,
                 what="a 200 once the queue drained")

        # a client that leaves: its work is cancelled (logged as 499), the server carries on
        async def leave():
            async with httpx.AsyncClient() as client:
                first = asyncio.create_task(client.post(srv.url + "/v1/predict", json={"text": "busy"}, timeout=30))
                await asyncio.sleep(0.1)
                try:
                    await client.post(srv.url + "/v1/predict", json={"text": "gone"}, timeout=0.2)
                except httpx.ReadTimeout:
                    pass
                return await first

        assert asyncio.run(leave()).status_code == 200
        wait_for(lambda: any(line["status"] == 499 for line in srv.access_lines()), what="the 499 log line")
        assert 'tuneforge_rejected_total{reason="client_gone"} 1.0' in httpx.get(srv.url + "/metrics").text
    finally:
        srv.stop()


def test_api_keys(bundles, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# service keys\n{KEY}\n")
    srv = Server(bundles["cls"], "--api-key-file", keys, log_dir=tmp_path)
    try:
        for route in ("/v1/models", "/metrics", "/docs"):
            assert httpx.get(srv.url + route).status_code == 401
        assert httpx.post(srv.url + "/v1/predict", json={"text": "fun"}).status_code == 401
        wrong = {"Authorization": "Bearer " + KEY[:-1] + "x"}
        assert httpx.post(srv.url + "/v1/predict", json={"text": "fun"}, headers=wrong).status_code == 401
        good = {"Authorization": "Bearer " + KEY}
        assert httpx.post(srv.url + "/v1/predict", json={"text": "fun"}, headers=good).status_code == 200
        assert httpx.get(srv.url + "/livez").status_code == 200 and httpx.get(srv.url + "/readyz").status_code == 200
    finally:
        srv.stop()


def test_refuses_to_start_off_loopback_without_keys(bundles):
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "serve", str(bundles["cls"]), "--host", "0.0.0.0",
                           "--port", str(free_port())], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--api-key-file" in proc.stderr


def test_sigterm_finishes_requests_in_flight_then_exits_zero(bundles, tmp_path):
    srv = Server(bundles["cls"], log_dir=tmp_path, delay_ms=1500)

    async def in_flight():
        async with httpx.AsyncClient() as client:
            task = asyncio.create_task(client.post(srv.url + "/v1/predict", json={"text": "fun"}, timeout=30))
            await asyncio.sleep(0.5)
            srv.proc.send_signal(signal.SIGTERM)
            return await task

    response = asyncio.run(in_flight())
    assert response.status_code == 200 and response.json()["predictions"][0]["label"]
    assert srv.proc.wait(30) == 0


def test_reload_swaps_atomically_and_a_corrupt_bundle_keeps_the_old_one(bundles, tmp_path):
    srv = Server(bundles["cls"], "--bundle-root", bundles["tmp"].parent, log_dir=tmp_path)
    try:
        before = httpx.post(srv.url + "/v1/predict", json={"text": "fun"}).json()
        corrupt = bundles["tmp"] / "corrupt"
        shutil.copytree(bundles["cls"], corrupt)
        (corrupt / "model" / "model.safetensors").write_bytes(b"not weights")
        response = httpx.post(srv.url + "/v1/admin/reload", json={"bundle": str(corrupt)}, timeout=60)
        assert response.status_code == 422 and "kept the current model" in response.json()["error"]
        assert httpx.post(srv.url + "/v1/predict", json={"text": "fun"}).json() == before
        response = httpx.post(srv.url + "/v1/admin/reload", json={"bundle": str(bundles["ner"])}, timeout=60)
        assert response.status_code == 200
        assert httpx.get(srv.url + "/v1/models").json()["task"]["type"] == "token_classification"
        assert "entities" in httpx.post(srv.url + "/v1/predict", json={"text": "mary works"}).json()["predictions"][0]
    finally:
        srv.stop()


def test_readyz_turns_unready_when_the_engine_fails(bundles, tmp_path):
    srv = Server(bundles["cls"], log_dir=tmp_path, fail_after=1)  # the warm-up runs outside the batcher
    try:
        assert httpx.post(srv.url + "/v1/predict", json={"text": "fun"}).status_code == 200
        broken = httpx.post(srv.url + "/v1/predict", json={"text": "fun"})
        assert broken.status_code == 503 and broken.headers["retry-after"] == "1"
        ready = httpx.get(srv.url + "/readyz")
        assert ready.status_code == 503 and ready.json()["reason"] == "engine_failed"
        assert "test fault" not in ready.text  # no error text for callers without a key
        assert httpx.get(srv.url + "/livez").status_code == 200
    finally:
        srv.stop()


def test_text_pairs_log_texts_and_two_workers(tiny_model_dir, tmp_path):

    from ..conftest import NEGATIVE, POSITIVE, write_csv

    rows = [{"a": p, "b": q, "label": "same" if (i + j) % 2 == 0 else "different"}
            for i, p in enumerate(POSITIVE[:6]) for j, q in enumerate(NEGATIVE[:4])]
    config = {"data": {"train": str(write_csv(tmp_path / "pairs.csv", rows)), "text_column": "a", "text_pair_column": "b"},
              "model": {"name": str(tiny_model_dir), "max_length": 32}, "train": {"epochs": 1, "batch_size": 8},
              "output": {"dir": str(tmp_path / "run")}}
    bundle = api.train(build_config(config)).bundle_dir
    srv = Server(bundle, "--log-texts", "--workers", 2, log_dir=tmp_path)
    try:
        missing = httpx.post(srv.url + "/v1/predict", json={"text": "a great movie"})
        assert missing.status_code == 422 and "text pairs" in missing.json()["error"]
        for _ in range(4):  # whichever worker answers
            response = httpx.post(srv.url + "/v1/predict", json={"texts": ["a great movie, ann@example.com"],
                                                                  "text_pairs": ["so dull"]})
            assert response.status_code == 200
            assert response.json()["predictions"][0]["label"] in {"same", "different"}
        logged = wait_for(lambda: [line for line in srv.access_lines()
                                   if line["route"] == "/v1/predict" and line["status"] == 200], what="log lines")
        assert logged and logged[0]["texts"] == ["a great movie, <EMAIL>"]  # --log-texts: in, personal data masked
    finally:
        srv.stop()
