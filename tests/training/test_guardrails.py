"""Guardrails: too few steps, a split too small to measure, a model that does not beat its baseline."""

from __future__ import annotations

import pytest

from tuneforge.training.guardrails import run_warnings, wilson_interval

from ..conftest import train_tiny_bundle


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
