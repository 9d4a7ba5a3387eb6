"""Text regression end to end on the tiny model: read, train, evaluate, predict, export with parity, serve."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.tasks import read_examples
from tuneforge.errors import DataError
from tuneforge.predictor import Predictor
from tuneforge.tasks.regression import regression_metrics

from ..conftest import NEGATIVE, POSITIVE, write_csv


def scored_rows():
    rows = [{"text": t, "score": 0.8 + 0.01 * i, "energy": 0.3} for i, t in enumerate(POSITIVE)]
    rows += [{"text": t, "score": 0.2 - 0.01 * i, "energy": 0.6 + 0.01 * i} for i, t in enumerate(NEGATIVE)]
    return rows


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("regression")
    data = write_csv(folder / "scores.csv", scored_rows())
    cfg = build_config({"data": {"train": str(data), "label_column": "score"}, "task": {"type": "regression"},
                        "model": {"name": str(tiny_model_dir), "max_length": 32},
                        "train": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-3, "report_to": []},
                        "output": {"dir": str(folder / "run")}})
    return api.train(cfg), data


def test_metrics_match_their_definitions():
    true = np.array([[1.0], [2.0], [3.0], [4.0]])
    pred = np.array([[1.5], [2.0], [2.5], [5.0]])
    metrics = regression_metrics(true, pred, ["y"])
    assert metrics["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 0.25 + 1) / 4))
    assert metrics["mae"] == pytest.approx(0.5)
    assert metrics["pearson"] == pytest.approx(np.corrcoef(true[:, 0], pred[:, 0])[0, 1])
    assert metrics["spearman"] == pytest.approx(1.0)


def test_targets_are_read_as_numbers_and_bad_ones_named(tmp_path):
    rows = scored_rows()
    path = write_csv(tmp_path / "d.csv", rows)
    examples = read_examples(path, task_type="regression", label_column="score")
    assert examples[0]["label"] == [pytest.approx(0.8)]
    two = read_examples(path, task_type="regression", label_names=["score", "energy"])
    assert two[0]["label"] == [pytest.approx(0.8), pytest.approx(0.3)]
    rows[3]["score"] = "high"
    with pytest.raises(DataError, match=r"e.csv line 5: 'high' in column 'score' is not a number"):
        read_examples(write_csv(tmp_path / "e.csv", rows), task_type="regression", label_column="score")


def test_train_evaluate_and_predict(trained):
    result, data = trained
    assert result.predictor.label_names == ["score"]
    for key in ("pearson", "spearman", "rmse", "mae"):
        assert key in result.metrics and key in result.metrics["baseline"]
    assert result.metrics["baseline"]["pearson"] == 0.0  # a constant prediction does not correlate
    report = (result.run_dir / "report.html").read_text()
    assert 'id="scatter"' in report and 'id="errors"' in report
    prediction = api.predict(result.bundle_dir, texts=["a great movie"])[0]
    assert set(prediction["values"]) == {"score"} and prediction["value"] == prediction["values"]["score"]
    reloaded = Predictor.load(result.bundle_dir)
    assert reloaded.predict_texts(["so dull"]) == result.predictor.predict_texts(["so dull"])
    metrics = api.evaluate(result.bundle_dir, data)
    assert metrics["n"] == 24 and -1 <= metrics["pearson"] <= 1


def test_several_targets(tiny_model_dir, tmp_path):
    data = write_csv(tmp_path / "scores.csv", scored_rows())
    cfg = build_config({"data": {"train": str(data), "label_names": ["score", "energy"]},
                        "task": {"type": "regression"}, "model": {"name": str(tiny_model_dir), "max_length": 32},
                        "train": {"epochs": 1, "batch_size": 8, "report_to": []}, "output": {"dir": str(tmp_path / "r")}})
    result = api.train(cfg)
    assert set(result.metrics["per_target"]) == {"score", "energy"}
    assert set(result.predictor.predict_texts(["fun"])[0]["values"]) == {"score", "energy"}
    assert "## Per target" in (result.run_dir / "report.md").read_text()


def test_export_passes_the_parity_gate(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    import shutil

    result, data = trained
    bundle = tmp_path / "bundle"
    shutil.copytree(result.bundle_dir, bundle)
    section = api.export(bundle, data, quantize=False)
    assert section["variants"]["fp32"]["max_abs_diff"] <= 1e-4 and section["variants"]["fp32"]["agreement"] == 1.0
    onnx = api.predict(bundle, texts=["a great movie"], backend="onnx")[0]["value"]
    assert onnx == pytest.approx(api.predict(bundle, texts=["a great movie"])[0]["value"], abs=1e-4)


def test_served_values(trained, tmp_path):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from ..serve.conftest import Server

    result, _ = trained
    srv = Server(result.bundle_dir, log_dir=tmp_path)
    try:
        response = httpx.post(srv.url + "/v1/predict", json={"texts": ["a great movie", "so dull"]})
        assert response.status_code == 200
        values = [p["value"] for p in response.json()["predictions"]]
        assert values == pytest.approx([p["value"] for p in result.predictor.predict_texts(["a great movie",
                                                                                             "so dull"])], abs=1e-5)
        assert json.loads(httpx.get(srv.url + "/v1/models").text)["task"]["type"] == "regression"
    finally:
        srv.stop()


@pytest.mark.parametrize("scores, message", [(["nan", "0.5", "0.1"], "is not a finite number"),
                                             (["inf", "0.5", "0.1"], "is not a finite number"),
                                             (["0.5", "0.5", "0.5"], "has the same value in every training example")])
def test_targets_a_model_cannot_learn_are_refused(tmp_path, scores, message):
    from tuneforge.data import load_splits
    from tuneforge.tasks import get_task

    path = write_csv(tmp_path / "d.csv", [{"text": f"text {i}", "score": s} for i, s in enumerate(scores * 2)])
    cfg = build_config({"data": {"train": str(path), "label_column": "score", "validation": str(path)},
                        "task": {"type": "regression"}})
    with pytest.raises(DataError, match=message):
        load_splits(cfg.data, get_task("regression"))
