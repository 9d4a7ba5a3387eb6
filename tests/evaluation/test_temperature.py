"""Temperature scaling: the fit recovers a known over-confidence; a run with ``eval.calibrate:
temperature`` stores it in the bundle, and the PyTorch model, the ONNX export and the server all return
the calibrated scores."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.evaluation.calibration import calibration
from tuneforge.evaluation.temperature import cross_fitted_temperatures, fit_temperature

from ..conftest import exported_copy, train_tiny_bundle


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _overconfident(seed: int, n: int, classes: int, factor: float):
    """Honest logits, labels drawn from their softmax, and the logits scaled by ``factor``."""
    rng = np.random.default_rng(seed)
    honest = rng.normal(0, 1.5, size=(n, classes))
    labels = np.array([rng.choice(classes, p=p) for p in _softmax(honest)])
    return honest, labels, honest * factor


def test_the_fit_undoes_a_known_over_confidence():
    honest, labels, overconfident = _overconfident(0, 4000, 3, 3.0)
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = calibration(_softmax(overconfident).max(1), _softmax(overconfident).argmax(1) == labels)["ece"]
    after = calibration(_softmax(overconfident / t).max(1), _softmax(overconfident / t).argmax(1) == labels)["ece"]
    assert after < 0.5 * before
    multi_t = fit_temperature(overconfident, (_softmax(honest) > 0.5).astype(float), multilabel=True)
    assert multi_t > 1.0


def test_cross_fitting_scales_each_fold_with_the_other_folds_temperature():
    _, labels, logits = _overconfident(1, 1000, 2, 2.5)
    temperatures = cross_fitted_temperatures(logits, labels)
    assert len(set(np.round(temperatures, 6))) == 5  # one temperature per fold, each fitted without it
    assert temperatures == pytest.approx(2.5, rel=0.2)
    first = temperatures == temperatures[0]
    assert temperatures[0] == pytest.approx(fit_temperature(logits[~first], labels[~first]), rel=1e-4)
    assert cross_fitted_temperatures(logits[:1], labels[:1]).tolist() == [1.0]  # one example: nothing to fit


def test_calibrated_scores_in_the_bundle_onnx_and_server(tiny_model_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    import httpx

    from tuneforge.predictor import Predictor

    from ..serve.conftest import Server

    result, reviews = train_tiny_bundle(tiny_model_dir, tmp_path, eval={"calibrate": "temperature"},
                                        train={"epochs": 3, "batch_size": 8})
    scaling = result.metrics["temperature_scaling"]
    page = (result.run_dir / "report.html").read_text()  # reliability before and after, ECE as measured
    assert "Before temperature scaling" in page and f"<b>{scaling['ece_before']:.4f}</b>" in page
    if result.metrics["accuracy"] < 1.0:  # the most confident mistakes carry attribution highlights
        assert "class='explanation'" in page.split('id="mistakes"')[1]
    loaded = Predictor.load(result.bundle_dir, precision="fp32")  # fp32 as the logits below, on every CPU
    t = loaded.manifest.task.model_dump()["temperature"]
    assert t == scaling["temperature"] and t != 1.0
    text = "a great movie with lovely music"
    logits = loaded.task.text_outputs(loaded.model, loaded.tokenizer, [{"text": text, "text_pair": None}], 32, 8)[0]
    expected = _softmax((logits / t)[None])[0]
    scores = loaded.predict_texts([text])[0]["scores"]
    assert [scores[n] for n in loaded.label_names] == pytest.approx(expected, abs=1e-5)
    exported_copy(result.bundle_dir, reviews, tmp_path / "onnx")
    onnx = Predictor.load(tmp_path / "onnx" / "bundle", backend="onnx", variant="fp32").predict_texts([text])[0]
    assert [onnx["scores"][n] for n in loaded.label_names] == pytest.approx(expected, abs=1e-4)
    server = Server(result.bundle_dir, "--precision", "fp32", log_dir=tmp_path)
    try:
        served = httpx.post(server.url + "/v1/predict", json={"text": text}, timeout=30).json()["predictions"][0]
    finally:
        server.stop()
    assert [served["scores"][n] for n in loaded.label_names] == pytest.approx(expected, abs=1e-5)
