"""Drift gauges in a real server: in-domain traffic stays under every threshold, out-of-domain traffic
crosses one within the window; the bundle carries the reference profile from training."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from ..conftest import NEGATIVE, POSITIVE, train_tiny_bundle

httpx = pytest.importorskip("httpx")

CONLL = Path(__file__).resolve().parents[3] / "shared" / "data" / "conll2003" / "test.txt"


def _sentences(limit: int) -> list[str]:
    from tuneforge.data.readers import read_conll

    return [" ".join(s.tokens) for s in read_conll(CONLL) if len(s.tokens) >= 6][:limit]


def _scores(server) -> dict[str, tuple[float, float]]:
    text = httpx.get(server.url + "/metrics", timeout=30).text
    score = dict(re.findall(r'tuneforge_drift_score\{signal="(\w+)"\} ([-0-9.e+]+)', text))
    limit = dict(re.findall(r'tuneforge_drift_threshold\{signal="(\w+)"\} ([-0-9.e+]+)', text))
    return {k: (float(score[k]), float(limit[k])) for k in score}


@pytest.mark.skipif(not CONLL.is_file(), reason="needs ../shared/data/conll2003")
def test_drift_crosses_its_threshold_on_out_of_domain_traffic_only(tiny_model_dir, tmp_path):
    from ..serve.conftest import Server

    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path, data={"train": "{reviews}", "test": "{reviews}"})
    profile = json.loads((result.bundle_dir / "reference_profile.json").read_text())
    assert set(profile["labels"]) == {"positive", "negative"} and len(profile["embeddings"]) > 10
    assert profile["mmd_threshold"] > 0 and len(profile["confidence"]) == 10
    server = Server(result.bundle_dir, "--drift-window", 100, log_dir=tmp_path)
    rng = random.Random(0)
    try:
        for _ in range(20):  # 200 in-domain texts: under every threshold all along
            texts = [rng.choice(POSITIVE + NEGATIVE) for _ in range(10)]
            assert httpx.post(server.url + "/v1/predict", json={"texts": texts}, timeout=30).status_code == 200
            scores = _scores(server)
            assert all(value < limit for value, limit in scores.values()), scores
        assert set(scores) == {"labels", "confidence", "length", "embedding"}
        crossed_at = None
        ood = _sentences(200)
        for sent in range(0, 200, 10):
            httpx.post(server.url + "/v1/predict", json={"texts": ood[sent:sent + 10]}, timeout=30)
            scores = _scores(server)
            if scores["embedding"][0] > scores["embedding"][1]:
                crossed_at = sent + 10
                break
        assert crossed_at is not None and crossed_at <= 100, scores  # within one window of the shift
        metrics = httpx.get(server.url + "/metrics", timeout=30).text
        counted = sum(float(v) for v in re.findall(r'tuneforge_predicted_label_total\{label="\w+"\} ([0-9.e+]+)',
                                                     metrics))
        assert counted == 200 + crossed_at
        from typer.testing import CliRunner

        from tuneforge.cli import app

        shown = CliRunner().invoke(app, ["monitor", server.url])  # tuneforge monitor URL: the live scores
        assert shown.exit_code == 0 and "embedding:" in shown.output and "DRIFT" in shown.output, shown.output
    finally:
        server.stop()
