"""Contrastive few-shot fine-tuning (SetFit-style) and few-shot runs over several seeds."""

from __future__ import annotations

import json

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import DataError
from tuneforge.methods.setfit import contrastive_pairs
from tuneforge.predictor import Predictor
from tuneforge.training import FewShotResult


def test_pairs_pair_like_with_like_and_unlike_with_unlike():
    texts, labels = ["good", "great", "fine", "bad", "awful"], ["pos", "pos", "pos", "neg", "neg"]
    label_of = dict(zip(texts, labels))
    pairs = contrastive_pairs(texts, labels, iterations=3, seed=0)
    assert len(pairs) == 2 * 3 * len(texts)
    for a, b, score in pairs:
        assert score == (1.0 if label_of[a] == label_of[b] else 0.0)
        assert score == 0.0 or a != b  # a positive partner is another example
    assert pairs == contrastive_pairs(texts, labels, iterations=3, seed=0)
    assert pairs != contrastive_pairs(texts, labels, iterations=3, seed=1)


def few_shot_config(tiny_config, method, per_class=4, seeds=(0, 1)):
    tiny_config["method"] = method
    tiny_config["data"]["few_shot"] = {"per_class": per_class, "seeds": list(seeds)}
    return build_config(tiny_config)


def test_setfit_few_shot_runs_per_seed_with_mean_and_std(tiny_config):
    result = api.train(few_shot_config(tiny_config, {"name": "setfit", "pair_iterations": 2, "batch_size": 8}))
    assert isinstance(result, FewShotResult) and sorted(result.runs) == [0, 1]
    accuracy = result.summary["accuracy"]
    seeds = [result.runs[s].metrics["accuracy"] for s in (0, 1)]
    assert accuracy["mean"] == pytest.approx(sum(seeds) / 2)
    assert accuracy["std"] == pytest.approx(abs(seeds[0] - seeds[1]) / 2 ** 0.5)
    saved = json.loads((result.run_dir / "fewshot.json").read_text())
    assert saved["summary"]["accuracy"]["by_seed"] == {"0": seeds[0], "1": seeds[1]}
    assert "| 1 |" in (result.run_dir / "report.md").read_text()
    for seed, run in result.runs.items():
        assert run.run_dir == result.run_dir / f"seed-{seed}"
        assert run.predictor.manifest.train_stats["examples"] == 8  # 4 per class
        texts = ["a great movie", "so boring"]
        reloaded = Predictor.load(run.bundle_dir)
        for a, b in zip(reloaded.predict_texts(texts), run.predictor.predict_texts(texts)):
            assert a["scores"] == pytest.approx(b["scores"], abs=1e-5)


def test_seeds_draw_different_examples():
    from tuneforge.data.splits import sample_per_class

    examples = [{"text": f"t{i}", "label": "ab"[i % 2]} for i in range(40)]
    first = sample_per_class(examples, 3, seed=0, source="x")
    second = sample_per_class(examples, 3, seed=1, source="x")
    for drawn in (first, second):
        assert sorted(e["label"] for e in drawn) == ["a"] * 3 + ["b"] * 3
    assert first != second and first == sample_per_class(examples, 3, seed=0, source="x")


def test_any_gradient_method_runs_few_shot(tiny_config):
    result = api.train(few_shot_config(tiny_config, {"name": "linear_probe"}, per_class=2, seeds=(3, 4)))
    for run in result.runs.values():
        assert run.predictor.manifest.train_stats["label_counts"] == {"negative": 2, "positive": 2}
        assert run.metrics["n"] == 6  # the test split stays whole


def test_too_few_examples_of_a_class(tiny_config):
    with pytest.raises(DataError, match="per_class=50 but label '(negative|positive)' has only"):
        api.train(few_shot_config(tiny_config, {"name": "full"}, per_class=50))


def test_max_pairs_caps_the_contrastive_phase(tiny_config):
    from tuneforge import api

    tiny_config["method"] = {"name": "setfit", "pair_iterations": 2, "max_pairs": 10}
    result = api.train(build_config(tiny_config))
    manifest = json.loads((result.bundle_dir / "tuneforge.json").read_text())
    assert manifest["method"]["contrastive_pairs"] == 10
