"""Bundles of parameter-efficient runs: adapter-only bundles and merged bundles."""

from __future__ import annotations

import json
import shutil

import pytest

from tuneforge import api
from tuneforge.bundle import MANIFEST
from tuneforge.config import build_config
from tuneforge.errors import BundleError
from tuneforge.predictor import Predictor
from ..conftest import as_old_format, resign_bundle

TEXTS = ["a great movie", "so boring", "lovely acting"]


def train(tiny_config, **method):
    tiny_config["method"] = method
    tiny_config["train"].update(epochs=1)
    return api.train(build_config(tiny_config))


def test_adapter_only_bundle_reloads_and_checks_its_base(tiny_config, tmp_path):
    result = train(tiny_config, name="lora", r=4, merge=False)
    bundle = result.bundle_dir
    assert (bundle / "adapter" / "trainable.safetensors").is_file()
    assert not (bundle / "model" / "model.safetensors").exists()
    manifest = json.loads((bundle / MANIFEST).read_text())
    assert manifest["method"]["merged"] is False and manifest["base_model"]["weights_sha256"]
    expected = [p["scores"] for p in result.predictor.predict_texts(TEXTS)]
    got = [p["scores"] for p in Predictor.load(bundle).predict_texts(TEXTS)]
    for a, b in zip(expected, got):
        assert a == pytest.approx(b, abs=1e-5)
    assert api.evaluate(bundle, tiny_config["data"]["train"])["n"] == 24

    old = tmp_path / "old"  # the same bundle as the TuneForge before the typed manifest wrote it
    shutil.copytree(bundle, old)
    as_old_format(old, 2)
    assert Predictor.load(old).manifest.model.kind == "trained_parameters"
    assert [p["scores"] for p in Predictor.load(old).predict_texts(TEXTS)] == got

    other = tmp_path / "other"
    shutil.copytree(bundle, other)
    manifest["base_model"]["weights_sha256"] = "0" * 64
    resign_bundle(other, manifest)
    with pytest.raises(BundleError, match="is not the one this adapter was trained on"):
        Predictor.load(other)


def test_unmergeable_method_bundle_predicts(tiny_config):
    result = train(tiny_config, name="adapter", bottleneck=8)
    assert result.predictor.manifest.method.merged is False
    reloaded = Predictor.load(result.bundle_dir)
    assert [p["label"] for p in reloaded.predict_texts(TEXTS)] == [p["label"] for p in result.predictor.predict_texts(TEXTS)]


def test_merged_lora_bundle_is_a_plain_transformers_model(tiny_config):
    from transformers import AutoModelForSequenceClassification

    result = train(tiny_config, name="lora", r=4)
    model_dir = result.bundle_dir / "model"
    plain = AutoModelForSequenceClassification.from_pretrained(model_dir)
    assert not any("lora" in name for name, _ in plain.named_parameters())
    assert json.loads((result.bundle_dir / MANIFEST).read_text())["method"]["merged"] is True
