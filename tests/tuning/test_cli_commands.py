"""`tuneforge tune` and `tuneforge compare` from the command line, in new processes."""

from __future__ import annotations

import json

import pytest
import yaml

from tuneforge.cli import parse_duration
from tuneforge.errors import TuneForgeError

from ..test_cli import run_cli


def test_durations():
    assert parse_duration("90") == 90 and parse_duration("40m") == 2400 and parse_duration("1.5h") == 5400
    for bad in ("soon", "-5m", "0"):
        with pytest.raises(TuneForgeError):
            parse_duration(bad)


def _write_config(tiny_config, tmp_path, **extra):
    path = tmp_path / "tiny.yaml"
    body = {**tiny_config, "train": {**tiny_config["train"], "epochs": 1, "report_to": []}, **extra}
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def test_tune_cli_searches_and_prints_where_outputs_are(tiny_config, tmp_path):
    config = _write_config(tiny_config, tmp_path, tune={"space": {"train.learning_rate": {"low": 1e-4, "high": 3e-3,
                                                                                          "log": True}}})
    done = run_cli("tune", config, "--trials", "2", "--timeout", "5m")
    assert done.returncode == 0, done.stderr
    assert "best config:" in done.stdout and "study.db" in done.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["trials"] == {"complete": 2} or sum(summary["trials"].values()) == 2

    bad = run_cli("tune", config, "tune.space.train.nope={low: 1, high: 2}", "--trials", "1")
    assert bad.returncode == 2 and "error:" in bad.stderr and "train.nope" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_compare_cli_prints_the_recommendation(tiny_config, tmp_path):
    config = _write_config(tiny_config, tmp_path)
    done = run_cli("compare", config, "--methods", "bitfit,lora", "--budget", "2m", "-o", tmp_path / "cmp")
    assert done.returncode == 0, done.stderr
    assert "recommended:" in done.stdout and "comparison.html" in done.stdout
    assert (tmp_path / "cmp" / "comparison.html").is_file()
    bad = run_cli("compare", config, "--methods", "full,nonsense", "--budget", "2m")
    assert bad.returncode == 2 and "nonsense" in bad.stderr and "Traceback" not in bad.stderr
