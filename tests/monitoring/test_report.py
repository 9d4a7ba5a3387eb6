"""tuneforge monitor: the drift report over captured traffic marks the out-of-domain window and lists
its texts as the most drifted; the labelling export ranks the least confident first, in the bundle's
columns."""

from __future__ import annotations

import csv
import json

from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from tuneforge.cli import app
from tuneforge.monitoring.capture import Capture
from tuneforge.predictor import Predictor

from ..conftest import NEGATIVE, POSITIVE, assert_one_error, train_tiny_bundle

NEWS = ["the central bank raised interest rates by a quarter point on thursday",
        "shares in the mining group fell sharply after the quarterly results were published",
        "the prime minister met union leaders to discuss the strike at the ports",
        "rain delayed the final day of the cricket test match in the capital"]


def test_drift_report_and_labelling_export(tiny_model_dir, tmp_path):
    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path, data={"train": "{reviews}", "test": "{reviews}"})
    predictor = Predictor.load(result.bundle_dir)
    capture = Capture(tmp_path / "cap", CollectorRegistry())
    in_domain = [{"text": t} for t in (POSITIVE + NEGATIVE) * 10][:200]
    out_domain = [{"text": NEWS[i % 4] + f" {i}"} for i in range(200)]
    for part in (in_domain, out_domain):
        capture.offer(part, predictor.predict(part), "m")
    capture.close()
    runner = CliRunner()
    out = runner.invoke(app, ["monitor", str(tmp_path / "cap"), "--bundle", str(result.bundle_dir), "--output",
                              str(tmp_path / "report"), "--window", "200", "--export-for-labelling",
                              str(tmp_path / "label.csv")])
    assert out.exit_code == 0, out.output
    report = json.loads((tmp_path / "report" / "drift.json").read_text())
    first, second = report["timeline"]
    assert first["rows"] == second["rows"] == 200
    assert "embedding" not in first["drifted"] and "embedding" in second["drifted"]
    assert all(any(n in d["text"] for n in NEWS) for d in report["most_drifted"])
    assert "over" in (tmp_path / "report" / "drift.html").read_text()
    with open(tmp_path / "label.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["text", "label", "predicted", "confidence", "capture_id"]
    confidences = [float(r["confidence"]) for r in rows]
    assert confidences == sorted(confidences) and all(r["label"] == "" for r in rows)
    assert len(rows) == len({r["text"] for r in rows})  # each text once
    # labelled by a person, the export goes back in: tuneforge continue reads it in the bundle's columns
    with open(tmp_path / "labelled.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows[:40]:
            writer.writerow({**r, "label": "negative" if any(n in r["text"] for n in NEWS) else r["predicted"]})
    from tuneforge.continual import continue_training

    report = continue_training(result.bundle_dir, tmp_path / "labelled.csv", replay=0.2, output=tmp_path / "next")
    assert report["new_train"] + report["new_test"] == 40 and report["new_bundle"]
    assert_one_error(runner.invoke(app, ["monitor", str(tmp_path / "cap")]), "give --bundle")
    assert_one_error(runner.invoke(app, ["monitor", str(tmp_path / "nothing"), "--bundle", str(result.bundle_dir)]),
                     "no capture.sqlite3")


def test_a_file_that_is_not_a_capture_database_is_one_error(tmp_path):
    import pytest

    from tuneforge.errors import ConfigError
    from tuneforge.monitoring.report import read_capture

    (tmp_path / "capture.sqlite3").write_text("not a database")
    with pytest.raises(ConfigError, match="not a capture database"):
        read_capture(tmp_path)
