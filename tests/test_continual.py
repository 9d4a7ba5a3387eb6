"""Continual fine-tuning: the new run trains on the new data plus the replayed share of the old, starts
from the bundle's weights, reports forgetting and gain as measured, and registers only within bounds."""

from __future__ import annotations

import json

import pytest

from tuneforge.continual import continue_training
from tuneforge.errors import ConfigError
from tuneforge.model_registry import FolderRegistry

from .conftest import train_tiny_bundle, write_csv

NEW = [("what a superb and moving picture", "positive"), ("the cast is brilliant", "positive"),
       ("a tedious mess from start to end", "negative"), ("the worst sequel ever made", "negative")] * 5


def test_continue_mixes_replay_measures_and_gates_registration(tiny_model_dir, tmp_path):
    (tmp_path / "old").mkdir()
    result, reviews = train_tiny_bundle(tiny_model_dir, tmp_path / "old")
    new = write_csv(tmp_path / "new.csv", [{"text": t, "label": y} for t, y in NEW])
    report = continue_training(result.bundle_dir, new, replay=0.5, old_test=reviews, output=tmp_path / "c1",
                               register="m", registry=tmp_path / "reg", max_forgetting=100.0)
    mix = [json.loads(line) for line in (tmp_path / "c1" / "continue_train.jsonl").read_text().splitlines()]
    assert report["new_train"] == 16 and report["new_test"] == 4 and report["replayed"] == 16 and len(mix) == 32
    assert sum(row["text"] in {t for t, _ in NEW} for row in mix) == 16
    from tuneforge import api

    before = api.evaluate(result.bundle_dir, reviews)["accuracy"]
    after = api.evaluate(report["new_bundle"], reviews)["accuracy"]
    assert report["scores"]["old_test"] == {"before": pytest.approx(before), "after": pytest.approx(after)}
    assert report["forgetting_points"] == pytest.approx(100 * (before - after), abs=1e-3)
    assert report["registered"]["stage"] == "candidate"
    assert FolderRegistry(tmp_path / "reg").resolve("registry://m@candidate").is_dir()
    refused = continue_training(result.bundle_dir, new, replay=0.0, old_test=reviews, output=tmp_path / "c2",
                                register="m", registry=tmp_path / "reg", max_forgetting=-1000.0, anchor=0.1)
    assert refused["anchor"] == 0.1
    assert refused["replayed"] == 0 and "refused" in refused and "registered" not in refused
    assert [r["version"] for r in FolderRegistry(tmp_path / "reg").list("m")] == [1]
    md = (tmp_path / "c2" / "run" / "continue.md").read_text()
    assert "forgetting" in md and "not registered" in md


def test_continue_refuses_what_it_cannot_measure(tiny_model_dir, tmp_path):
    result, reviews = train_tiny_bundle(tiny_model_dir, tmp_path)
    with pytest.raises(ConfigError, match="give --old-test"):
        continue_training(result.bundle_dir, reviews)
    with pytest.raises(ConfigError, match="--replay is the share"):
        continue_training(result.bundle_dir, reviews, replay=1.0)


def test_the_anchor_pulls_weights_back_towards_the_start():
    from types import SimpleNamespace

    import torch

    from tuneforge.training.callbacks import anchor_to_start

    model = torch.nn.Linear(3, 1)
    start = model.weight.detach().clone()
    callback = anchor_to_start(0.5)
    callback.on_train_begin(None, None, None, model=model)
    with torch.no_grad():
        model.weight.add_(1.0)  # an optimizer step moved the weights by 1
    args = SimpleNamespace(learning_rate=0.2)
    callback.on_step_end(args, None, None, model=model)
    assert torch.allclose(model.weight - start, torch.full_like(start, 1.0 - 0.2 * 0.5))  # pulled back by lr * weight
