"""Guardrails: too few steps, a split too small to measure, a model that does not beat its baseline."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.training.callbacks import patient_early_stopping
from tuneforge.training.guardrails import metric_history, run_warnings, wilson_interval

from ..conftest import NEGATIVE, POSITIVE, train_tiny_bundle, write_jsonl


def test_wilson_interval():
    low, high = wilson_interval(5, 6)
    assert 0.43 < low < 0.45 and 0.96 < high < 0.98
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(100, 100)[1] == pytest.approx(1.0)


def test_each_warning_and_its_absence():
    base = dict(steps=500, trained_by_steps=True, eval_examples=500, split="test", metric="accuracy",
                lower_is_better=False)
    good = {"accuracy": 0.9, "baseline": {"name": "always 'a'", "accuracy": 0.5}}
    assert run_warnings(metrics=good, **base) == []
    few = run_warnings(metrics=good, **{**base, "steps": 10})
    assert len(few) == 1 and "only 10 optimizer steps" in few[0]
    assert run_warnings(metrics=good, **{**base, "steps": 0, "trained_by_steps": False}) == []  # built, not trained
    small = run_warnings(metrics={**good, "accuracy": 5 / 6}, **{**base, "eval_examples": 6})
    assert len(small) == 1 and "only 6 examples" in small[0] and "95% interval 0.44 to 0.97" in small[0]
    tie = run_warnings(metrics={"accuracy": 0.5, "baseline": {"name": "always 'a'", "accuracy": 0.5}}, **base)
    assert len(tie) == 1 and "does not beat always 'a'" in tie[0]
    rmse = dict(base, metric="rmse", lower_is_better=True)
    assert run_warnings(metrics={"rmse": 0.2, "baseline": {"rmse": 0.3}}, **rmse) == []
    assert "does not beat" in run_warnings(metrics={"rmse": 0.4, "baseline": {"rmse": 0.3}}, **rmse)[0]


def test_a_tiny_run_warns_in_its_log_and_report(tiny_model_dir, tmp_path, caplog):
    with caplog.at_level("WARNING", logger="tuneforge"):
        result, _ = train_tiny_bundle(tiny_model_dir, tmp_path)
    report = (result.run_dir / "report.md").read_text()
    assert "optimizer steps" in caplog.text and "too few to measure" in caplog.text
    assert "**warnings**:" in report and "optimizer steps" in report


def test_a_metric_that_never_moved_and_a_model_that_predicts_nothing_are_warned_about():
    base = dict(steps=500, trained_by_steps=True, eval_examples=500, split="test", metric="micro_f1",
                lower_is_better=False, metrics={"micro_f1": 0.0}, checkpoint_metric="micro_f1")
    stuck = run_warnings(history=[0.0, 0.0, 0.0], **base)
    assert any("validation micro_f1 stayed at 0.0000 in all 3 evaluations" in w for w in stuck)
    assert not any("stayed at" in w for w in run_warnings(history=[0.0, 0.1, 0.1], **base))
    assert not any("stayed at" in w for w in run_warnings(history=[0.0], **base))  # one evaluation proves nothing
    silent = run_warnings(predictions=[{"labels": []}, {"labels": []}], **base)
    assert any("predicts no label at all for any of the 2 test examples" in w for w in silent)
    assert not any("no label" in w for w in run_warnings(predictions=[{"labels": []}, {"labels": ["a"]}], **base))
    assert metric_history([{"loss": 1.0}, {"eval_micro_f1": 0.0}, {"eval_micro_f1": 0.5}], "micro_f1") == [0.0, 0.5]


def test_early_stopping_waits_until_the_metric_first_moves():
    def run(values, patience=1):
        callback = patient_early_stopping(patience)
        args = SimpleNamespace(metric_for_best_model="micro_f1", greater_is_better=True, load_best_model_at_end=True,
                               eval_strategy="steps", save_strategy="steps")
        state = SimpleNamespace(best_metric=None)
        for step, value in enumerate(values, start=1):
            control = SimpleNamespace(should_training_stop=False)
            callback.on_evaluate(args, state, control, {"eval_micro_f1": value})
            if control.should_training_stop:
                return step
            state.best_metric = value if state.best_metric is None else max(state.best_metric, value)
        return None

    assert run([0.0, 0.0, 0.0, 0.0, 0.0]) is None  # Trainer's own callback stops at the second evaluation
    assert run([0.0, 0.0, 0.0, 0.4, 0.3]) == 5  # once the metric moved, the patience counts as before
    assert run([0.5, 0.6, 0.6]) == 3


def test_a_multilabel_run_that_predicts_nothing_says_so(tiny_config, tmp_path, caplog):
    rows = [{"text": t, "label": ["good"]} for t in POSITIVE] + [{"text": t, "label": ["bad"]} for t in NEGATIVE]
    tiny_config["data"] = {"train": str(write_jsonl(tmp_path / "ml.jsonl", rows)),
                           "split": {"validation": 0.25, "test": 0.25, "seed": 0}}
    tiny_config["task"] = {"type": "multilabel", "threshold": 0.999}
    tiny_config["train"].update(epochs=1, learning_rate=1e-5)
    with caplog.at_level("WARNING", logger="tuneforge"):
        result = api.train(build_config(tiny_config))
    assert "predicts no label at all for any of the 6 test examples" in caplog.text
    assert "predicts no label at all" in (result.run_dir / "report.md").read_text()
