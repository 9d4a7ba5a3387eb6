"""Canary routing: the candidate answers about its share of requests, each answer names its model, and
the metrics count the two models apart."""

from __future__ import annotations

import re

import pytest

from ..conftest import train_tiny_bundle
from .conftest import Server

httpx = pytest.importorskip("httpx")


def test_a_canary_answers_its_share_and_is_counted_apart(tiny_model_dir, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    a = train_tiny_bundle(tiny_model_dir, tmp_path / "a")[0].bundle_dir
    b = train_tiny_bundle(tiny_model_dir, tmp_path / "b", train={"epochs": 2, "batch_size": 8})[0].bundle_dir
    server = Server(a, "--canary", b, "--canary-share", 0.3, log_dir=tmp_path)
    try:
        answers = [httpx.post(server.url + "/v1/predict", json={"texts": ["a great movie", "so dull"]},
                              timeout=30).json() for _ in range(100)]
        metrics = httpx.get(server.url + "/metrics", timeout=30).text
    finally:
        server.stop()
    models = [r["model"] for r in answers]
    assert 15 <= models.count("canary") <= 45 and models.count("primary") + models.count("canary") == 100
    by_model = dict(re.findall(r'tuneforge_model_predictions_total\{model="(\w+)"\} ([0-9.e+]+)', metrics))
    assert float(by_model["canary"]) == 2 * models.count("canary")
    assert float(by_model["primary"]) == 2 * models.count("primary")
    canary_scores = {str(r["predictions"][0]["scores"]) for r in answers if r["model"] == "canary"}
    primary_scores = {str(r["predictions"][0]["scores"]) for r in answers if r["model"] == "primary"}
    assert len(canary_scores) == len(primary_scores) == 1 and canary_scores != primary_scores  # two models


def test_settings_that_cannot_work_fail_in_one_line_before_the_server_starts(bundles, tmp_path):
    from tuneforge.errors import BundleError, ConfigError
    from tuneforge.serve import run
    from tuneforge.serve.engine import ServeSettings

    ready = []
    with pytest.raises(ConfigError, match="the candidate does token_classification"):
        run(ServeSettings(bundle=str(bundles["cls"]), canary=str(bundles["ner"])), on_ready=lambda: ready.append(1))
    with pytest.raises(BundleError, match="bundle folder not found"):
        run(ServeSettings(bundle=str(bundles["cls"]), canary=str(tmp_path / "nowhere")))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="--capture .*: not a folder"):
        run(ServeSettings(bundle=str(bundles["cls"]), capture=str(tmp_path / "afile")))
    assert ready == []  # "serving ..." is never announced for a server that will not start
