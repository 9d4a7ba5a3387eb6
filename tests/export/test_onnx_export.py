"""ONNX export: parity with PyTorch on real inputs, a broken export caught, the onnx backend."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")

from tuneforge import api  # noqa: E402
from tuneforge.config import build_config  # noqa: E402
from tuneforge.errors import BundleError  # noqa: E402
from tuneforge.export.onnx_export import ExportError, OnnxModel, compare, export_bundle  # noqa: E402
from tuneforge.predictor import Predictor  # noqa: E402

from ..conftest import CONLL, POSITIVE, train_tiny_bundle  # noqa: E402


@pytest.fixture(scope="module")
def sentiment_bundle(tiny_model_dir, tmp_path_factory):
    result, data = train_tiny_bundle(tiny_model_dir, tmp_path_factory.mktemp("onnx-cls"))
    return result.bundle_dir, data


def fresh_copy(bundle, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(bundle, target)
    return target


def test_export_passes_parity_and_the_onnx_backend_predicts_the_same(sentiment_bundle, tmp_path):
    bundle, data = fresh_copy(sentiment_bundle[0], tmp_path), sentiment_bundle[1]
    section = api.export(bundle, data)
    fp32 = section["variants"]["fp32"]
    assert fp32["max_abs_diff"] <= 1e-4 and fp32["agreement"] == 1.0 and fp32["examples"] == 24
    assert (bundle / "onnx" / "model.onnx").is_file() and (bundle / "onnx" / "model.int8.onnx").is_file()
    assert section["default"] in ("int8", "fp32") and "drop_points" in section["variants"]["int8"]
    manifest = json.loads((bundle / "tuneforge.json").read_text())
    assert "onnx/model.onnx" in manifest["files"] and manifest["onnx"]["default"] == section["default"]
    torch_predictions = Predictor.load(bundle).predict_texts(["a great movie", "so boring"])
    onnx_predictions = Predictor.load(bundle, backend="onnx", variant="fp32").predict_texts(["a great movie", "so boring"])
    for a, b in zip(torch_predictions, onnx_predictions):
        assert a["label"] == b["label"] and a["scores"] == pytest.approx(b["scores"], abs=1e-4)
    # the onnx backend from the command line, in a new process
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "evaluate", str(bundle), "--data", str(data),
                           "--backend", "onnx"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "accuracy" in proc.stdout, proc.stderr
    # serving lets ONNX Runtime's idle threads sleep; predictions do not change
    serving = Predictor.load(bundle, backend="onnx", variant="fp32", onnx_spinning=False)
    entry = "session.intra_op.allow_spinning"
    assert serving.model.session.get_session_options().get_session_config_entry(entry) == "0"
    default_options = Predictor.load(bundle, backend="onnx").model.session.get_session_options()
    with pytest.raises(RuntimeError):  # not set: ONNX Runtime's default, spinning
        default_options.get_session_config_entry(entry)
    for a, b in zip(onnx_predictions, serving.predict_texts(["a great movie", "so boring"])):
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-6)


def test_a_broken_export_is_caught_with_its_figures(sentiment_bundle, tmp_path):
    import numpy as np
    import onnx
    from onnx import numpy_helper

    bundle = fresh_copy(sentiment_bundle[0], tmp_path)
    api.export(bundle, sentiment_bundle[1], quantize=False)
    broken = tmp_path / "broken.onnx"
    graph = onnx.load(bundle / "onnx" / "model.onnx")
    for init in graph.graph.initializer:  # the classifier's bias off by 0.01: a slightly wrong export
        if "classifier" in init.name and init.name.endswith("bias"):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(0.01), init.name))
            break
    else:
        pytest.fail("no classifier weight in the exported graph")
    onnx.save(graph, broken)
    predictor = Predictor.load(bundle)
    examples = [{"text": t, "label": "positive"} for t in POSITIVE]
    check = compare(predictor, predictor.model, OnnxModel(broken), examples)
    assert check["max_abs_diff"] == pytest.approx(0.01, abs=1e-5)  # measured exactly: the export gate refuses it

    def broken_optimise(source, target):
        shutil.copyfile(broken, target)

    import tuneforge.export.onnx_export as onnx_export

    original = onnx_export.optimise
    onnx_export.optimise = broken_optimise
    try:
        with pytest.raises(ExportError, match=r"max \|logit diff\| .* \(limit 0.0001\)"):
            export_bundle(bundle, examples, quantize=False)
    finally:
        onnx_export.optimise = original


def test_token_classification_exports_with_dynamic_sequence_axis(tiny_model_dir, tmp_path):
    data = tmp_path / "ner.conll"
    body = CONLL.split("\n", 2)[2]
    data.write_text(CONLL + ("\n" + body) * 3, encoding="utf-8")
    config = {"data": {"train": str(data)}, "task": {"type": "token_classification"},
              "model": {"name": str(tiny_model_dir), "max_length": 32},
              "train": {"epochs": 1, "batch_size": 4}, "output": {"dir": str(tmp_path / "run")}}
    bundle = api.train(build_config(config)).bundle_dir
    section = api.export(bundle, data, quantize=False)
    assert section["variants"]["fp32"]["max_abs_diff"] <= 1e-4 and section["variants"]["fp32"]["agreement"] == 1.0
    tokens = "mary works at google in london and john lives in paris".split()
    a = Predictor.load(bundle).predict([{"tokens": tokens}])[0]
    b = Predictor.load(bundle, backend="onnx").predict([{"tokens": tokens}])[0]
    assert a["tags"] == b["tags"]


def test_onnx_backend_without_export_says_how_to_make_one(sentiment_bundle):
    with pytest.raises(BundleError, match="tuneforge export"):
        Predictor.load(sentiment_bundle[0], backend="onnx")


@pytest.mark.parametrize("method", [{"name": "lora", "r": 4, "merge": False}, {"name": "adapter", "bottleneck": 8}])
def test_adapter_bundles_export_merged_or_with_their_adapters(tiny_model_dir, tmp_path, method):
    result, data = train_tiny_bundle(tiny_model_dir, tmp_path, method=method)
    assert result.predictor.manifest.method.merged is False
    section = api.export(result.bundle_dir, data, quantize=False)
    assert section["variants"]["fp32"]["max_abs_diff"] <= 1e-4 and section["variants"]["fp32"]["agreement"] == 1.0


def test_export_defaults_to_the_test_file_of_the_run(tiny_model_dir, tmp_path):
    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path, data={"train": "{reviews}", "validation": "{reviews}",
                                                                    "test": "{reviews}"})
    section = api.export(result.bundle_dir, quantize=False)  # no data: the run's test file
    assert section["variants"]["fp32"]["examples"] == 24
    bare = tmp_path / "bare"
    shutil.copytree(result.bundle_dir, bare / "bundle")  # a bundle whose run folder is gone
    with pytest.raises(Exception, match="give evaluation data"):
        api.export(bare / "bundle")
