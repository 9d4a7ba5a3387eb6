"""Every training and evaluation run writes report.html with all its sections; TensorBoard logs by default."""

from __future__ import annotations

import base64
import json
import re

import pytest

from ..conftest import train_tiny_bundle  # noqa: E402
from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError

CLASSIFICATION_SECTIONS = ["summary", "metrics", "per-class", "confusion", "calibration", "curves", "mistakes"]
NER_SECTIONS = ["summary", "metrics", "per-class", "calibration", "curves", "entities"]


def _check_page(page: str, sections: list[str], plots: int) -> None:
    found = re.findall(r'<section id="([^"]+)"', page)
    for name in sections:
        assert name in found, f"section {name} missing"
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(images) >= plots
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in page and "https://" not in page


def test_classification_run_writes_html_report_and_tensorboard(tiny_model_dir, tmp_path):
    result, reviews = train_tiny_bundle(tiny_model_dir, tmp_path, train={"epochs": 2, "batch_size": 8})
    page = (result.run_dir / "report.html").read_text(encoding="utf-8")
    _check_page(page, CLASSIFICATION_SECTIONS, plots=3)  # confusion, reliability, curves
    assert f"{result.metrics['accuracy']:.4f}" in page
    events = list((result.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0

    out = tmp_path / "eval"
    metrics = api.evaluate(result.bundle_dir, reviews, output=out)
    page = (out / "report.html").read_text(encoding="utf-8")
    _check_page(page, [s for s in CLASSIFICATION_SECTIONS if s != "curves"], plots=2)
    assert f"{metrics['accuracy']:.4f}" in page and (out / "metrics.json").is_file()


def test_ner_run_writes_html_report(tiny_model_dir, conll_file, tmp_path):
    config = {"name": "ner", "data": {"train": str(conll_file), "split": {"validation": 0.25, "test": 0.25}},
              "model": {"name": str(tiny_model_dir), "max_length": 32}, "task": {"type": "token_classification"},
              "train": {"epochs": 2, "batch_size": 4, "learning_rate": 5e-3, "report_to": []},
              "output": {"dir": str(tmp_path / "run")}}
    result = api.train(build_config(config))
    page = (result.run_dir / "report.html").read_text(encoding="utf-8")
    _check_page(page, NER_SECTIONS, plots=1)
    assert not (result.run_dir / "tensorboard").exists()  # report_to: [] turns tracking off


def test_mlflow_needs_its_package_or_logs_a_run(tiny_model_dir, tmp_path):
    try:
        import mlflow  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="pip install 'tuneforge\\[mlflow\\]'"):
            train_tiny_bundle(tiny_model_dir, tmp_path, train={"epochs": 1, "report_to": [],
                                                               "mlflow_tracking_uri": f"sqlite:///{tmp_path}/ml.db"})
        return
    import mlflow

    uri = f"sqlite:///{tmp_path}/ml.db"
    train_tiny_bundle(tiny_model_dir, tmp_path, name="mlrun",
                      train={"epochs": 1, "batch_size": 8, "report_to": [], "mlflow_tracking_uri": uri})
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name("mlrun")
    assert experiment is not None
    runs = mlflow.search_runs([experiment.experiment_id], output_format="list")
    assert runs and any(key.startswith("eval_") for key in runs[0].data.metrics)


def test_a_failed_run_says_why_in_its_folder(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nonly one class,positive\nstill one,positive\n", encoding="utf-8")
    config = {"data": {"train": str(bad)}, "model": {"name": str(tiny_model_dir)},
              "output": {"dir": str(tmp_path / "run")}, "train": {"report_to": []}}
    with pytest.raises(Exception) as failure:
        api.train(build_config(config))
    run = tmp_path / "run"
    assert (run / "FAILED").read_text().strip().endswith(str(failure.value))
    assert "run failed:" in (run / "train.log").read_text() and str(failure.value) in (run / "train.log").read_text()
    good = tmp_path / "good.csv"
    good.write_text("text,label\n" + "".join(f"film {i},{'positive' if i % 2 else 'negative'}\n" for i in range(20)),
                    encoding="utf-8")
    config["data"] = {"train": str(good)}
    config["train"].update(epochs=1, batch_size=8)
    with pytest.raises(ConfigError, match="holds an earlier run; add --overwrite to replace it"):
        api.train(build_config(config))  # the failed run is kept until the user says to replace it
    assert (run / "FAILED").exists()
    api.train(build_config(config), overwrite=True)
    assert not (run / "FAILED").exists()  # a later success in the same folder clears it
    assert "run failed:" not in (run / "train.log").read_text()  # and its log starts afresh


def test_an_output_folder_that_is_not_a_run_is_never_emptied(tiny_model_dir, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    good = tmp_path / "good.csv"
    good.write_text("text,label\n" + "".join(f"film {i},{'positive' if i % 2 else 'negative'}\n" for i in range(20)))
    config = {"data": {"train": str(good)}, "model": {"name": str(tiny_model_dir)},
              "output": {"dir": str(tmp_path / "mine")}, "train": {"report_to": []}}
    with pytest.raises(ConfigError, match="is not a run folder"):
        api.train(build_config(config), overwrite=True)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "years of work"


def test_evaluating_on_training_data_is_warned_about(tiny_model_dir, tmp_path, caplog):
    result, reviews = train_tiny_bundle(tiny_model_dir, tmp_path)
    with caplog.at_level("WARNING", logger="tuneforge"):
        api.evaluate(result.bundle_dir, reviews)
    assert "24 of 24 examples" in caplog.text and "also appear in the training data" in caplog.text
    caplog.clear()
    fresh = tmp_path / "fresh.csv"
    fresh.write_text("text,label\nan unseen happy text,positive\nan unseen sad text,negative\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="tuneforge"):
        api.evaluate(result.bundle_dir, fresh)
    assert "also appear in the training data" not in caplog.text


def test_the_report_names_the_backbone(tiny_model_dir, tmp_path):
    from tuneforge.training.run import display_backbone

    assert display_backbone("default") == "sentence-transformers/all-MiniLM-L6-v2 (the default backbone)"
    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path)
    assert f"**model**: {tiny_model_dir}" in (result.run_dir / "report.md").read_text()


def test_the_report_names_the_restored_checkpoint(tiny_model_dir, tmp_path):
    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path, train={"epochs": 2, "batch_size": 4})
    report = (result.run_dir / "report.md").read_text()
    steps = re.search(r"best validation accuracy\*\*: [0-9.]+ at step (\d+) \(that checkpoint is the model saved\)",
                      report)
    assert steps, report
    history = json.loads((result.run_dir / "log_history.json").read_text())
    evaluated = [row["step"] for row in history if "eval_accuracy" in row]
    assert len(evaluated) == 2 and int(steps.group(1)) in evaluated
    assert "best checkpoint (step" in (result.run_dir / "report.html").read_text()
