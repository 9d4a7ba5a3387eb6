"""Distillation, torch int8, and the compress pipeline with its --max-drop gate."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

pytest.importorskip("onnxruntime")

from tuneforge import api  # noqa: E402
from tuneforge.compress.distill import distillation_loss, keep_layers  # noqa: E402
from tuneforge.compress.measure import latency, torch_int8  # noqa: E402
from tuneforge.predictor import Predictor  # noqa: E402

from ..conftest import POSITIVE, train_tiny_bundle  # noqa: E402


@pytest.fixture(scope="module")
def teacher(tiny_model_dir, tmp_path_factory):
    """A tiny classifier fitted to 24 reviews (evaluated on the same file, so it scores high)."""
    result, data = train_tiny_bundle(
        tiny_model_dir, tmp_path_factory.mktemp("teacher"),
        data={"train": "{reviews}", "validation": "{reviews}", "test": "{reviews}"},
        train={"epochs": 15, "batch_size": 8, "learning_rate": 3e-3, "early_stopping_patience": None})
    assert result.metrics["accuracy"] >= 0.9, "the tiny teacher should fit its 24 examples"
    return result.bundle_dir, data


def test_student_keeps_every_other_layer(teacher):
    model = Predictor.load(teacher[0]).model
    student = keep_layers(model, 1)
    assert student.config.num_hidden_layers == 1 and len(student.bert.encoder.layer) == 1
    assert torch.equal(student.bert.encoder.layer[0].output.dense.weight, model.bert.encoder.layer[0].output.dense.weight)
    assert len(model.bert.encoder.layer) == 2  # the teacher is untouched


def test_distillation_loss_is_zero_only_when_student_matches_teacher_and_labels():
    teacher = torch.tensor([[4.0, -4.0], [-4.0, 4.0]])
    labels = torch.tensor([0, 1])
    same = distillation_loss(teacher.clone(), teacher, labels, temperature=2.0, alpha=0.0)
    assert same.abs() < 1e-6
    assert distillation_loss(-teacher, teacher, labels, 2.0, 0.0) > 1.0
    tokens = distillation_loss(teacher[None], teacher[None], torch.tensor([[0, -100]]), 2.0, 0.5)  # (1, 2, 2)
    assert torch.isfinite(tokens)
    # unlabelled rows (-1) count only towards the KL term: a student equal to the teacher loses nothing there
    unlabelled = distillation_loss(teacher.clone(), teacher, torch.tensor([-1, -1]), 2.0, 0.5)
    assert unlabelled.abs() < 1e-6
    assert distillation_loss(-teacher, teacher, torch.tensor([-1, -1]), 2.0, 0.5) > 1.0


def test_torch_int8_and_latency(teacher):
    predictor = Predictor.load(teacher[0])
    quantized = torch_int8(predictor.model)
    assert "DynamicQuantizedLinear" in repr(quantized)
    timing = latency(quantized, predictor.tokenizer, POSITIVE, batch_size=4)
    assert timing["batches"] == 3 and timing["p95_ms"] >= timing["p50_ms"] > 0


def test_compress_runs_every_step_and_writes_the_table(teacher, tmp_path):
    bundle, data = teacher
    report = api.compress(bundle, ["distill", "quantize", "export"], tmp_path / "out", data, data, max_drop=100.0,
                          distill_options={"layers": 1, "epochs": 2, "learning_rate": 1e-3})
    names = [r["variant"] for r in report["rows"]]
    assert names == ["original", "distilled-1-layers", "torch-int8", "onnx-fp32", "onnx-int8"]
    for row in report["rows"]:
        assert row["latency"]["batch_1"]["p50_ms"] > 0 and row["latency"]["batch_32"]["texts_per_second"] > 0
    out = Predictor.load(tmp_path / "out")  # the distilled student is the output bundle's model
    assert out.model.config.num_hidden_layers == 1 and out.manifest.compress["final"] == report["final"]
    assert "| onnx-int8 |" in (tmp_path / "out" / "compress.md").read_text()


def test_a_step_past_max_drop_is_rejected_and_later_steps_build_on_the_original(teacher, tmp_path, monkeypatch):
    bundle, data = teacher

    def broken_distill(teacher_model, *args, **kwargs):
        student = keep_layers(teacher_model, 1)
        with torch.no_grad():
            student.classifier.bias[:] = torch.tensor([100.0, -100.0])  # always the first label: half the data wrong
        return student

    monkeypatch.setattr("tuneforge.compress.distill.distill", broken_distill)
    report = api.compress(bundle, ["distill", "export"], tmp_path / "out", data, data, max_drop=1.0)
    rows = {r["variant"]: r for r in report["rows"]}
    assert rows["distilled-1-layers"]["accepted"] is False and rows["distilled-1-layers"]["drop_points"] > 1.0
    assert rows["onnx-fp32"]["accepted"] is True and report["final"] == "onnx-fp32"
    assert Predictor.load(tmp_path / "out").model.config.num_hidden_layers == 2  # the teacher, not the student


def test_compress_on_the_cli_reports_rejections(teacher, tmp_path):
    bundle, data = teacher
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "compress", str(bundle), "--steps", "quantize",
                           "--max-drop", "-100", "--data", str(data), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "rejected (drop over -100.0 points): torch-int8" in proc.stdout
    saved = json.loads((tmp_path / "out" / "compress.json").read_text())
    assert [r["accepted"] for r in saved["rows"]] == [True, False] and saved["final"] == "original"


def test_magnitude_pruning_hits_its_sparsity_and_recovery_keeps_the_zeros(teacher, tmp_path):
    bundle, data = teacher
    report = api.compress(bundle, ["prune"], tmp_path / "out", data, data, max_drop=100.0,
                          prune_options={"spec": "magnitude:0.6", "epochs": 1, "learning_rate": 1e-3})
    row = report["rows"][1]
    assert row["variant"] == "pruned-magnitude-0.6" and "sparsity 0.60" in row["note"]
    from tuneforge.compress.prune import sparsity_of

    reloaded = Predictor.load(tmp_path / "out").model  # a plain model: the masks were folded in
    assert abs(sparsity_of(reloaded) - 0.6) < 0.01
    assert not any("weight_orig" in name for name, _ in reloaded.named_parameters())


def test_structured_pruning_removes_layers(teacher, tmp_path):
    from tuneforge.compress.prune import parse_spec, prune_model
    from tuneforge.errors import ConfigError

    model = Predictor.load(teacher[0]).model
    pruned, description = prune_model(model, "layers:1")
    assert pruned.config.num_hidden_layers == 1 and description == "1 encoder layers kept"
    for bad in ("magnitude:1.5", "layers:1.5", "heads:2", "magnitude"):
        with pytest.raises(ConfigError, match="prune spec"):
            parse_spec(bad)


def test_distillation_can_add_unlabelled_text(teacher, tmp_path):
    bundle, data = teacher
    texts = tmp_path / "unlabelled.txt"
    texts.write_text("a lovely film\nawful acting\nthe music was fun\nboring story\n", encoding="utf-8")
    report = api.compress(bundle, ["distill"], tmp_path / "out", data, data, max_drop=100.0, unlabelled_data=texts,
                          distill_options={"layers": 1, "epochs": 1})
    assert report["rows"][1]["variant"] == "distilled-1-layers"
    manifest = Predictor.load(tmp_path / "out").manifest
    assert manifest.method.distilled["unlabelled"] == 4
