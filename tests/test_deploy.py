"""The monitoring files shipped in deploy/: the alert rules pass promtool's check and its unit tests,
and every metric the rules and the dashboard use is one the server exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian's prometheus package; "
                                                             "make test installs it where apt-get can)")


@needs_promtool
def test_alert_rules_pass_promtool_check_and_unit_tests():
    checked = subprocess.run([PROMTOOL, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([PROMTOOL, "test", "rules", "alerts_test.yml"], cwd=DEPLOY / "prometheus",
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_rules_and_dashboard_use_metrics_the_server_exports(tmp_path):
    from tuneforge.monitoring.capture import Capture
    from tuneforge.monitoring.live import LiveMonitor
    from tuneforge.serve.app import _metrics

    metrics = _metrics()
    LiveMonitor(metrics.registry, ["a", "b"])
    Capture(tmp_path, metrics.registry).close()
    exported = set()
    for family in metrics.registry.collect():
        exported |= {family.name, family.name + "_total", family.name + "_bucket"}
    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    dashboard = json.loads((DEPLOY / "grafana" / "tuneforge-dashboard.json").read_text())
    text += " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    used = set(re.findall(r"\b(tuneforge_[a-z_]+)", text))
    assert used and used <= exported, used - exported
