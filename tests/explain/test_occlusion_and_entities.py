"""Occlusion explanations (any backend; each word's attribution is the score lost without it) and
per-entity integrated gradients for taggers (complete within the convergence delta)."""

from __future__ import annotations

import pytest
import torch

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.explain.occlusion import occlusion_texts
from tuneforge.predictor import Predictor

from ..conftest import exported_copy, train_tiny_bundle

pytest.importorskip("captum")


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    return train_tiny_bundle(tiny_model_dir, tmp_path_factory.mktemp("occlusion"))


def test_occlusion_is_the_score_lost_without_each_word_on_torch_and_onnx(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    result, reviews = trained
    text = "a great movie , lovely acting"
    torch_result = api.explain(result.bundle_dir, [text], method="occlusion", target="positive")[0]
    predictor = Predictor.load(result.bundle_dir)
    full = predictor.predict_texts([text])[0]["scores"]["positive"]
    words = text.split()
    assert [w["word"] for w in torch_result["words"]] == words and torch_result["method"] == "occlusion"
    for i, w in enumerate(torch_result["words"]):
        without = " ".join(words[:i] + words[i + 1:])
        assert w["attribution"] == pytest.approx(full - predictor.predict_texts([without])[0]["scores"]["positive"],
                                                 abs=1e-5)
    exported_copy(result.bundle_dir, reviews, tmp_path / "onnx")
    onnx = occlusion_texts(Predictor.load(tmp_path / "onnx" / "bundle", backend="onnx", variant="fp32"), [text],
                           target="positive")[0]
    assert [w["attribution"] for w in onnx["words"]] == pytest.approx([w["attribution"] for w in torch_result["words"]],
                                                                      abs=1e-4)
    with pytest.raises(ConfigError, match="integrated gradients need the PyTorch model"):
        api.explain(tmp_path / "onnx" / "bundle", [text], backend="onnx")
    with pytest.raises(ConfigError, match="unknown explanation method"):
        api.explain(predictor, [text], method="shap")


def test_entity_explanations_are_complete_per_entity(tiny_config, conll_file):
    tiny_config["data"] = {"train": str(conll_file), "split": {"validation": 0.25, "test": 0.25, "seed": 0}}
    tiny_config["task"] = {"type": "token_classification"}
    result = api.train(build_config(tiny_config))
    predictor = Predictor.load(result.bundle_dir)
    with torch.no_grad():  # make every word a location, so each word is an entity of its own
        predictor.model.classifier.bias[predictor.label_names.index("B-LOC")] += 20.0
    text = "anna works in berlin"
    explained = api.explain(predictor, [text], steps=200)[0]
    assert [e["text"] for e in explained["entities"]] == text.split()
    for entity in explained["entities"]:
        assert entity["type"] == "LOC" and [w["word"] for w in entity["words"]] == text.split()
        total = sum(w["attribution"] for w in entity["words"])
        assert total == pytest.approx(entity["attribution_sum"], abs=1e-4)
        assert abs(entity["attribution_sum"] - entity["output_difference"]) <= abs(entity["convergence_delta"]) + 1e-4
        assert entity["relative_delta"] < 0.05
    with pytest.raises(ConfigError, match="entity explanations take single texts"):
        api.explain(predictor, [text], target="B-LOC")
    with pytest.raises(ConfigError, match="occlusion covers text classification"):
        api.explain(predictor, [text], method="occlusion")
