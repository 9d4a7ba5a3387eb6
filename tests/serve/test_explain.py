"""``POST /v1/explain``: attributions over HTTP, keys like every route, and limits that answer 413/422/429,
never 5xx."""

from __future__ import annotations

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("captum")

from .conftest import KEY, Server  # noqa: E402


def test_explain_answers_within_its_limits_and_needs_a_key(bundles, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(KEY + "\n")
    srv = Server(bundles["cls"], "--api-key-file", keys, "--max-explain-texts", 2, "--max-explain-steps", 20,
                 "--max-text-chars", 100, "--max-body-bytes", 4000, log_dir=tmp_path)
    auth = {"Authorization": f"Bearer {KEY}"}
    url = srv.url + "/v1/explain"
    try:
        assert httpx.post(url, json={"text": "a great movie"}, timeout=30).status_code == 401
        ok = httpx.post(url, json={"texts": ["a great movie", "so dull"], "steps": 20}, headers=auth, timeout=60)
        assert ok.status_code == 200, ok.text
        first = ok.json()["explanations"][0]
        assert [w["word"] for w in first["words"]] == ["a", "great", "movie"] and "convergence_delta" in first
        predicted = httpx.post(srv.url + "/v1/predict", json={"text": "a great movie"}, headers=auth, timeout=30)
        assert first["label"] == predicted.json()["predictions"][0]["label"]
        occluded = httpx.post(url, json={"text": "a great movie", "method": "occlusion"}, headers=auth, timeout=60)
        assert occluded.status_code == 200 and occluded.json()["explanations"][0]["method"] == "occlusion"
        assert [w["word"] for w in occluded.json()["explanations"][0]["words"]] == ["a", "great", "movie"]
        for body, fragment in (({"texts": ["a", "b", "c"]}, "limit is 2"),
                               ({"text": "a great movie", "steps": 21}, "from 1 to 20"),
                               ({"text": "a great movie", "steps": True}, "from 1 to 20"),
                               ({"text": "x" * 101}, "the limit is 100"),
                               ({"text": "a great movie", "target": "nope"}, "not one of the labels"),
                               ({"text": "a", "extra": 1}, "unknown fields"),
                               ({"text": "a", "method": "shap"}, "'method' must be")):
            response = httpx.post(url, json=body, headers=auth, timeout=30)
            assert response.status_code == 422 and fragment in response.json()["error"], (body, response.text)
        big = httpx.post(url, content=b'{"text": "' + b"a" * 5000 + b'"}', headers={**auth, "Content-Type":
                                                                                   "application/json"}, timeout=30)
        assert big.status_code == 413
        assert httpx.get(srv.url + "/readyz", timeout=5).status_code == 200
    finally:
        srv.stop()
    assert not [line for line in srv.access_lines() if line["status"] >= 500]
