"""Single-label, multi-label and pair classification end to end on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.predictor import Predictor

from ..conftest import NEGATIVE, POSITIVE, write_csv, write_jsonl


@pytest.fixture
def trained(tiny_config):
    return api.train(build_config(tiny_config))


def test_training_writes_run_folder(trained):
    run = trained.run_dir
    for name in ("config.yaml", "metrics.json", "report.md", "train.log", "log_history.json", "bundle/tuneforge.json"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints").exists()
    assert trained.eval_split == "test"
    assert set(trained.metrics) >= {"accuracy", "macro_f1", "micro_f1", "per_class", "confusion_matrix", "baseline"}
    matrix = np.array(trained.metrics["confusion_matrix"]["matrix"])
    assert matrix.sum() == trained.metrics["n"] == 6
    report = (run / "report.md").read_text()
    assert "Per class" in report and "Confusion matrix" in report and "baseline" in report


def test_reloaded_bundle_predicts_like_memory(trained):
    texts = POSITIVE[:3] + NEGATIVE[:3] + ["something the model never saw , with unknown words zzz"]
    in_memory = trained.predictor.predict_texts(texts)
    reloaded = Predictor.load(trained.bundle_dir).predict_texts(texts)
    assert [p["label"] for p in reloaded] == [p["label"] for p in in_memory]
    for a, b in zip(in_memory, reloaded):
        for label in a["scores"]:
            assert a["scores"][label] == pytest.approx(b["scores"][label], abs=1e-5)


def test_evaluate_bundle_matches_training_metrics(trained, sentiment_csv):
    metrics = api.evaluate(trained.bundle_dir, sentiment_csv)
    assert metrics["n"] == len(POSITIVE) + len(NEGATIVE)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["baseline"]["accuracy"] == pytest.approx(0.5)


def test_learns_the_toy_task(tiny_config):
    import json

    tiny_config["train"].update(epochs=20, learning_rate=3e-3, early_stopping_patience=None, logging_steps=3)
    result = api.train(build_config(tiny_config))
    history = json.loads((result.run_dir / "log_history.json").read_text())
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) >= 5
    assert min(losses[-3:]) < 0.5 * losses[0]


def test_multilabel(tiny_config, tmp_path):
    rows = []
    for i in range(12):
        rows.append({"text": POSITIVE[i], "label": ["good", "music"] if "music" in POSITIVE[i] else ["good"]})
        rows.append({"text": NEGATIVE[i], "label": "bad|music" if "music" in NEGATIVE[i] else "bad"})
    tiny_config["data"] = {"train": str(write_jsonl(tmp_path / "ml.jsonl", rows)), "label_delimiter": "|",
                           "split": {"validation": 0.25, "test": 0.25, "seed": 0}}
    tiny_config["task"] = {"type": "multilabel", "threshold": 0.5}
    result = api.train(build_config(tiny_config))
    assert result.predictor.label_names == ["bad", "good", "music"]
    assert {"accuracy", "micro_f1", "macro_f1", "label_confusion"} <= set(result.metrics)
    prediction = api.predict(result.bundle_dir, texts=["great music"])[0]
    assert set(prediction["scores"]) == {"bad", "good", "music"}
    assert all(0 <= s <= 1 for s in prediction["scores"].values())
    assert prediction["labels"] == [n for n, s in prediction["scores"].items() if s >= 0.5]


def test_sentence_pairs(tiny_config, tmp_path):
    rows = [{"a": p, "b": q, "label": "same" if (i + j) % 2 == 0 else "different"}
            for i, p in enumerate(POSITIVE[:6]) for j, q in enumerate(NEGATIVE[:4])]
    tiny_config["data"] = {"train": str(write_csv(tmp_path / "pairs.csv", rows)), "text_column": "a",
                           "text_pair_column": "b", "split": {"validation": 0.2, "test": 0.2, "seed": 0}}
    result = api.train(build_config(tiny_config))
    assert result.predictor.manifest.data.text_pair_column == "b"
    out = api.predict(result.bundle_dir, texts=["good movie"], text_pairs=["bad movie"])
    assert out[0]["text_pair"] == "bad movie" and out[0]["label"] in {"same", "different"}
    from tuneforge.errors import ConfigError

    with pytest.raises(ConfigError, match="text pairs"):
        api.predict(result.bundle_dir, texts=["good movie"])


def test_unknown_eval_metric_fails_before_training(tiny_config):
    from tuneforge.errors import ConfigError

    tiny_config["eval"] = {"metric": "bleu"}
    with pytest.raises(ConfigError, match="eval.metric 'bleu' is not computed for classification"):
        api.train(build_config(tiny_config))
