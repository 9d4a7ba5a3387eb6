"""The method advisor: Pareto front, recommendation rule, and a real comparison on the tiny model."""

from __future__ import annotations

import base64
import json

import pytest

from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.tuning.advisor import compare_methods, recommend
from tuneforge.tuning.advisor_report import pareto_front


def _row(method, score, train_seconds, ms, mb):
    return {"method": method, "score": score, "train_seconds": train_seconds, "ms_per_text_b1": ms, "bundle_mb": mb,
            "error": None}


ROWS = [
    _row("full", 0.860, 600, 9.0, 90.0),
    _row("lora", 0.855, 380, 9.5, 1.2),
    _row("bitfit", 0.830, 350, 9.0, 0.5),
    _row("freeze", 0.845, 900, 9.0, 90.0),  # dominated on every cost by full
]


def test_pareto_front_drops_dominated_methods():
    assert pareto_front(ROWS, "train_seconds") == {"full", "lora", "bitfit"}
    assert pareto_front(ROWS, "bundle_mb") == {"full", "lora", "bitfit"}
    assert "freeze" not in pareto_front(ROWS, "ms_per_text_b1")


def test_recommendation_prefers_a_cheaper_method_within_tolerance():
    choice, reason = recommend(ROWS, tolerance=1.0)
    assert choice == "lora"
    assert "0.50 points below the best (full" in reason and "1.2 vs 90.0 MB" in reason
    choice, reason = recommend(ROWS, tolerance=0.1)  # nothing else is close enough: the best wins
    assert choice == "full" and "no other method" in reason
    failed = [{"method": "x", "error": "boom"}]
    assert recommend(failed) == (None, "no method finished")
    assert recommend(ROWS + failed)[0] == "lora"


def test_unknown_method_fails_before_training(tiny_config):
    with pytest.raises(ConfigError, match="lorra"):
        compare_methods(build_config(tiny_config), ["full", "lorra"], 60)


def test_compare_trains_each_method_and_writes_the_report(tiny_config, tmp_path):
    cfg = build_config({**tiny_config, "train": {**tiny_config["train"], "epochs": 1, "report_to": []}})
    result = compare_methods(cfg, ["full", "lora", "setfit"], budget_seconds=300, out_dir=tmp_path / "cmp")
    assert [r["method"] for r in result.rows] == ["full", "lora", "setfit"]
    for row in result.rows:
        assert row["error"] is None
        assert 0.0 <= row["score"] <= 1.0 and row["ms_per_text_b1"] > 0 and row["bundle_mb"] > 0
        assert (tmp_path / "cmp" / row["method"] / "bundle" / "tuneforge.json").is_file()
    by = {r["method"]: r for r in result.rows}
    assert by["lora"]["trainable_percent"] < by["full"]["trainable_percent"] == pytest.approx(100.0)
    assert result.recommended in by and result.reason
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert saved["recommended"] == result.recommended and len(saved["rows"]) == 3
    page = (tmp_path / "cmp" / "comparison.html").read_text()
    for section in ('id="table"', 'id="recommendation"', 'id="pareto"'):
        assert section in page
    data = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(data)[:4] == b"\x89PNG"
    assert "http://" not in page and "https://" not in page
    assert f"Recommended: {result.recommended}" in (tmp_path / "cmp" / "comparison.md").read_text()


def test_a_failing_method_does_not_lose_the_others(tiny_config, tmp_path):
    cfg = build_config({**tiny_config, "train": {**tiny_config["train"], "epochs": 1, "report_to": []},
                        "task": {"type": "classification"}, "data": {**tiny_config["data"], "text_pair_column": "text"}})
    result = compare_methods(cfg, ["setfit", "bitfit"], budget_seconds=120, out_dir=tmp_path / "cmp")
    by = {r["method"]: r for r in result.rows}
    assert "method setfit needs single-text classification" in by["setfit"]["error"]
    assert by["bitfit"]["error"] is None and result.recommended == "bitfit"


def test_time_limit_stops_training_and_still_evaluates(tiny_config):
    from tuneforge.training.callbacks import time_limit_callback
    from tuneforge.training.run import train_run

    cfg = build_config({**tiny_config, "train": {**tiny_config["train"], "epochs": 5, "report_to": []}})
    result = train_run(cfg, callbacks=[time_limit_callback(0.0)])
    history = json.loads((result.run_dir / "log_history.json").read_text())
    assert max(row.get("step", 0) for row in history) == 1  # 5 epochs of 3 steps were planned
    assert any("eval_accuracy" in row for row in history)
    assert "accuracy" in result.metrics and result.bundle_dir.is_dir()
