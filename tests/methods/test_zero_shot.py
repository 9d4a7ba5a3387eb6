"""Zero-shot classification by label descriptions: no training, a bundle like any other."""

from __future__ import annotations

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.predictor import Predictor


def zero_shot_config(tiny_config, **method):
    tiny_config["method"] = {"name": "zero_shot", **method}
    return build_config(tiny_config)


def test_descriptions_decide_the_label(tiny_config):
    # A text identical to one label's description has cosine similarity 1 with it.
    descriptions = {"positive": "wonderful music", "negative": "terrible music"}
    result = api.train(zero_shot_config(tiny_config, label_descriptions=descriptions))
    predictions = result.predictor.predict_texts(["wonderful music", "terrible music"])
    assert [p["label"] for p in predictions] == ["positive", "negative"]
    assert predictions[0]["score"] > 0.5
    manifest = result.predictor.manifest["method"]
    assert manifest["trainable_parameters"] == 0
    assert manifest["label_descriptions"] == descriptions
    assert "label descriptions" in (result.run_dir / "report.md").read_text()


def test_template_and_reload(tiny_config):
    result = api.train(zero_shot_config(tiny_config, template="this film is {description}"))
    assert result.predictor.manifest["method"]["label_descriptions"]["positive"] == "this film is positive"
    texts = ["a great movie", "so boring"]
    reloaded = Predictor.load(result.bundle_dir)
    for a, b in zip(reloaded.predict_texts(texts), result.predictor.predict_texts(texts)):
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-5)


def test_unknown_label_in_descriptions_fails_before_anything_runs(tiny_config):
    with pytest.raises(ConfigError, match="unknown labels \\['neutral'\\]"):
        api.train(zero_shot_config(tiny_config, label_descriptions={"neutral": "meh"}))


def test_zero_shot_is_for_classification(tiny_config, conll_file):
    tiny_config["data"] = {"train": str(conll_file), "split": {"validation": 0.25, "test": 0.25, "seed": 0}}
    tiny_config["task"] = {"type": "token_classification"}
    with pytest.raises(ConfigError, match="classification only"):
        api.train(zero_shot_config(tiny_config))
